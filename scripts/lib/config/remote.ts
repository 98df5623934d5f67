/**
 * Where an environment's offsite copies live: an S3-compatible bucket and prefix, its endpoint,
 * and the credentials to reach it (or a mounted directory, file:///mnt/x; or, in tests, a
 * memory:// store). Settings come from --remote/--endpoint or backup-kit.json
 * (per environment, or one `remote` for all); credentials only from the process environment or
 * the environment's .env file, never from the config file.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { KitError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { configFor } from './file.js';

/** What backup-kit.json may say about a remote (no secrets). */
export interface RemoteSettings {
  url?: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Minimum multipart part size in MiB (default 8; providers need at least 5). */
  partSizeMiB?: number;
  /** Seconds to wait for a connection to the object store (default 10). */
  connectTimeoutSeconds?: number;
  /** Seconds the object store may stay silent within one request before it is given up (default 60). */
  requestTimeoutSeconds?: number;
  /** Tries per request, counting the first, for requests that are safe to repeat (default 3). */
  attempts?: number;
  /** db:retention's own counts for the remote set; the local policy when absent. */
  retention?: Record<string, unknown>;
}

export interface RemoteCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Remote {
  /** Which driver holds the objects: the URL's scheme (see RemoteAddressSchema). */
  scheme: RemoteScheme;
  /** s3://bucket/prefix as given, for messages. */
  url: string;
  /** The bucket (s3), the in-process store's name (memory), or "" (file: the prefix is the path). */
  bucket: string;
  /** Key prefix for this environment's backups, "" or ending in "/". */
  prefix: string;
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  partSizeBytes: number;
  /** How long one connection attempt, and one silence within a request, may last; then a try fails. */
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Tries per request (with backoff between them) before the kit gives up with exit 20. */
  attempts: number;
  /** Static credentials, or undefined to let the SDK use AWS_PROFILE / its default chain. */
  credentials: RemoteCredentials | undefined;
  profile: string | undefined;
  /** Where the credentials came from (a variable set's name and file), never their values. */
  credentialSource: string;
  retention: Record<string, unknown> | undefined;
}

export interface RemoteFlags {
  remote?: string | undefined;
  endpoint?: string | undefined;
}

const KNOWN_KEYS = new Set(['url', 'endpoint', 'region', 'forcePathStyle', 'partSizeMiB', 'connectTimeoutSeconds', 'requestTimeoutSeconds', 'attempts', 'retention', '$comment']);
const SECRET_KEYS = /access.?key|secret|token|password|credential/i;
const MIB = 1024 * 1024;
export const MIN_PART_BYTES = 5 * MIB;

/** A key prefix: "" or ending in "/", never stepping up or sideways. */
const KeyPrefix = z.string().refine((p) => !p.split('/').some((part) => part === '..' || part === '.'), 'a prefix without "." or ".." parts');

/**
 * What a remote URL may name, one entry per scheme. Adding an object store is one entry here
 * and one driver folder (store/drivers/<scheme>/, registered in store/drivers/index.ts).
 */
export const RemoteAddressSchema = z.discriminatedUnion('scheme', [
  // An S3-compatible bucket: 3-63 lower-case letters, digits, dots, hyphens.
  z.object({ scheme: z.literal('s3'), bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/), prefix: KeyPrefix }),
  // A named store inside this process, for tests: memory://name/prefix.
  z.object({ scheme: z.literal('memory'), bucket: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/), prefix: KeyPrefix }),
  // A directory, typically a mounted one: file:///mnt/backups (absolute, no host, not / itself).
  z.object({ scheme: z.literal('file'), bucket: z.literal(''), prefix: KeyPrefix.refine((p) => p !== '', 'a directory below /') }),
]);

export type RemoteAddress = z.infer<typeof RemoteAddressSchema>;
export type RemoteScheme = RemoteAddress['scheme'];

/** `s3://bucket/some/prefix` → its scheme, bucket and "some/prefix/"; undefined when not one. Pure. */
export function parseRemoteUrl(url: string): RemoteAddress | undefined {
  const match = /^([a-z][a-z0-9]*):\/\/([^/]*)(\/.*)?$/.exec(url.trim());
  if (!match) return undefined;
  const rest = (match[3] ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  const parsed = RemoteAddressSchema.safeParse({ scheme: match[1], bucket: match[2], prefix: rest ? `${rest}/` : '' });
  return parsed.success ? parsed.data : undefined;
}

/** Problems with one remote section of backup-kit.json, each naming its key. Pure. */
export function checkRemoteSettings(settings: unknown, where: string): string[] {
  if (settings === undefined) return [];
  if (!settings || typeof settings !== 'object' || Array.isArray(settings)) return [`${where} must be an object such as { "url": "s3://bucket/prefix" }`];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (SECRET_KEYS.test(key)) problems.push(`${where}.${key} looks like a credential: put AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment's .env file or the process environment instead`);
    else if (!KNOWN_KEYS.has(key)) problems.push(`${where}.${key} is not a remote setting (known: ${[...KNOWN_KEYS].filter((k) => !k.startsWith('$')).join(', ')})`);
    else if ((key === 'url' || key === 'endpoint' || key === 'region') && typeof value !== 'string') problems.push(`${where}.${key} must be a string`);
  }
  const s = settings as RemoteSettings;
  if (typeof s.url === 'string' && !parseRemoteUrl(s.url)) problems.push(`${where}.url "${s.url}" is not of the form s3://bucket/prefix`);
  if (typeof s.endpoint === 'string') problems.push(...checkEndpoint(s.endpoint, `${where}.endpoint`));
  if (s.forcePathStyle !== undefined && typeof s.forcePathStyle !== 'boolean') problems.push(`${where}.forcePathStyle must be true or false`);
  if (s.partSizeMiB !== undefined && (!Number.isInteger(s.partSizeMiB) || s.partSizeMiB < 5 || s.partSizeMiB > 5120)) problems.push(`${where}.partSizeMiB must be a whole number from 5 to 5120`);
  problems.push(...checkDeadlines(s, where));
  if (s.retention !== undefined && (typeof s.retention !== 'object' || s.retention === null)) problems.push(`${where}.retention must be an object like the top-level retention`);
  return problems;
}

/**
 * The deadlines are bounded both ways: zero would mean "wait forever" to the SDK, and a day or
 * more is a hang by another name. Pure.
 */
const DEADLINE_BOUNDS = { connectTimeoutSeconds: [1, 3600], requestTimeoutSeconds: [1, 3600], attempts: [1, 10] } as const;

function checkDeadlines(settings: RemoteSettings, where: string): string[] {
  const problems: string[] = [];
  for (const [key, [low, high]] of Object.entries(DEADLINE_BOUNDS)) {
    const value = settings[key as keyof typeof DEADLINE_BOUNDS];
    if (value !== undefined && (!Number.isInteger(value) || value < low || value > high)) problems.push(`${where}.${key} must be a whole number from ${low} to ${high}`);
  }
  return problems;
}

function checkEndpoint(endpoint: string, where: string): string[] {
  try {
    const url = new URL(endpoint);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return [`${where} must start with https:// (or http:// for a server on this machine)`];
    if (url.username || url.password) return [`${where} must not carry credentials`];
    return [];
  } catch {
    return [`${where} "${endpoint}" is not a URL such as https://s3.example.com`];
  }
}

function envFiles(root: string, env: string, envFile: string | undefined): string[] {
  if (envFile !== undefined) return [path.resolve(root, envFile)];
  if (env !== 'default') return [path.join(root, 'packages/database', `.env.${env}`)];
  return [path.join(root, 'packages/database/.env'), path.join(root, '.env')];
}

type Vars = Record<string, string | undefined>;

function first(vars: Vars, names: string[]): string | undefined {
  for (const name of names) {
    const value = vars[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

/**
 * Credentials, taken whole from the first place that has any: the process environment, then the
 * environment's .env file. AWS_ACCESS_KEY/AWS_SECRET_KEY are accepted as pg_backctl spells them.
 */
export function resolveCredentials(layers: Array<{ name: string; vars: Vars }>): Pick<Remote, 'credentials' | 'profile' | 'credentialSource'> & { region: string | undefined } {
  for (const { name, vars } of layers) {
    const accessKeyId = first(vars, ['AWS_ACCESS_KEY_ID', 'AWS_ACCESS_KEY']);
    const secretAccessKey = first(vars, ['AWS_SECRET_ACCESS_KEY', 'AWS_SECRET_KEY']);
    const region = first(vars, ['AWS_REGION', 'AWS_DEFAULT_REGION']);
    if (accessKeyId || secretAccessKey) {
      if (!accessKeyId || !secretAccessKey) {
        const missing = accessKeyId ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID';
        throw new KitError('REMOTE_CONFIG', `${name} sets one half of the object storage credentials; add ${missing} there too.`);
      }
      const sessionToken = first(vars, ['AWS_SESSION_TOKEN']);
      for (const secret of [secretAccessKey, sessionToken]) registerSecret(secret);
      return { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }, profile: undefined, credentialSource: name, region };
    }
    const profile = first(vars, ['AWS_PROFILE']);
    if (profile) return { credentials: undefined, profile, credentialSource: `${name} (AWS_PROFILE=${profile})`, region };
    if (region) return { credentials: undefined, profile: undefined, credentialSource: 'none', region };
  }
  return { credentials: undefined, profile: undefined, credentialSource: 'none', region: undefined };
}

export interface RemoteOptions extends RemoteFlags {
  root: string;
  env: string;
  envFile?: string | undefined;
  processEnv: NodeJS.ProcessEnv;
}

/** The remote of an environment, or undefined when none is configured. */
export function resolveRemote(options: RemoteOptions): Remote | undefined {
  const config = configFor(options.root) as { remote?: unknown; environments?: Record<string, { remote?: unknown }> };
  const own = config.environments?.[options.env]?.remote;
  const settingsRaw = own ?? config.remote;
  const where = own !== undefined ? `backup-kit.json environments.${options.env}.remote` : 'backup-kit.json remote';
  const problems = checkRemoteSettings(settingsRaw, where);
  if (options.endpoint !== undefined) problems.push(...checkEndpoint(options.endpoint, '--endpoint'));
  const url = options.remote ?? (settingsRaw as RemoteSettings | undefined)?.url ?? (options.processEnv.BACKUP_REMOTE || undefined);
  if (url === undefined) {
    if (options.endpoint !== undefined) problems.push('--endpoint needs a remote: add --remote s3://bucket/prefix or configure one in backup-kit.json');
    if (problems.length) throw new KitError('REMOTE_CONFIG', `${problems.join('; ')}.`);
    return undefined;
  }
  const parsed = parseRemoteUrl(url);
  if (!parsed) problems.push(`remote "${url}" is not of the form s3://bucket/prefix (bucket: 3-63 lower-case letters, digits, dots, hyphens)`);
  if (problems.length) throw new KitError('REMOTE_CONFIG', `${problems.join('; ')}.`);
  const settings = (settingsRaw ?? {}) as RemoteSettings;
  const layers = [{ name: 'the process environment', vars: options.processEnv as Vars }];
  for (const file of envFiles(options.root, options.env, options.envFile)) {
    if (existsSync(file)) layers.push({ name: path.relative(options.root, file) || file, vars: parseDotenv(readFileSync(file)) });
  }
  const creds = resolveCredentials(layers);
  const endpoint = options.endpoint ?? settings.endpoint ?? (options.processEnv.AWS_ENDPOINT_URL_S3 || options.processEnv.AWS_ENDPOINT_URL || undefined);
  // The prefix is per environment, so two environments sharing a bucket never mix their backups.
  const envPrefix = `${parsed!.prefix}${options.env}/`;
  return {
    scheme: parsed!.scheme,
    url: url.trim(),
    bucket: parsed!.bucket,
    prefix: envPrefix,
    endpoint,
    region: settings.region ?? creds.region ?? 'us-east-1',
    forcePathStyle: settings.forcePathStyle ?? endpoint !== undefined,
    partSizeBytes: Math.max(MIN_PART_BYTES, (settings.partSizeMiB ?? 8) * MIB),
    connectTimeoutMs: (settings.connectTimeoutSeconds ?? 10) * 1000,
    requestTimeoutMs: (settings.requestTimeoutSeconds ?? 60) * 1000,
    attempts: settings.attempts ?? 3,
    credentials: creds.credentials,
    profile: creds.profile,
    credentialSource: creds.credentialSource,
    retention: settings.retention,
  };
}

/** `s3://bucket/prefix/env/<name>`: how a remote object is shown to people. */
export function remoteLocation(remote: Pick<Remote, 'scheme' | 'bucket' | 'prefix'>, name = ''): string {
  return `${remote.scheme}://${remote.bucket}/${remote.prefix}${name}`;
}

/** A location a remote gave (`<scheme>://…`), as opposed to a path on this machine. Pure. */
export function isRemoteLocation(location: string): boolean {
  return /^[a-z][a-z0-9]*:\/\//.test(location);
}
