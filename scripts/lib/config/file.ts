/**
 * The optional non-secret config file, backup-kit.json at the repository root. Settings only:
 * a password, or a URL carrying one, is an error that says where secrets belong. Precedence
 * everywhere: flags > environment variables > this file > defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { KitError } from '../errors.js';
import type { RetentionPolicy } from './retention-policy.js';

export const CONFIG_FILE = 'backup-kit.json';

/** age public keys that backups are encrypted to (never a secret key). */
export interface EncryptionConfig {
  recipients?: string[];
  /** A file of recipients, one per line, relative to the repository root. */
  recipientsFile?: string;
}

export interface EnvironmentConfig {
  protected?: boolean;
  /** Offsite copies (config/remote.ts checks it). */
  remote?: unknown;
  /** Overrides the top-level encryption; { "recipients": [] } switches it off. */
  encryption?: EncryptionConfig;
}

export interface KitConfig {
  /** Backup root (BACKUP_DIR overrides). */
  backupDir?: string;
  /** Run log file; {command} is replaced by the command's name (LOG_FILE overrides). */
  logFile?: string;
  /** Environments that need a typed confirmation; default: prod and production. */
  protected?: string[];
  /** Where db:sync and db:refresh take data from when --from is not given. */
  sync?: { from?: string };
  retention?: Partial<RetentionPolicy>;
  /** The application's migration command for db:migrate:safe (MIGRATE_COMMAND overrides). */
  migrate?: { command?: string };
  /** Webhook for failure (and optionally success) notices (NOTIFY_URL overrides). */
  notify?: { url?: string; onSuccess?: boolean };
  /** Offsite copies for every environment unless one sets its own (config/remote.ts). */
  remote?: unknown;
  /** Encrypt every backup with age to these recipients (AGE_RECIPIENTS overrides). */
  encryption?: EncryptionConfig;
  /** Per-environment overrides. */
  environments?: Record<string, EnvironmentConfig>;
}

const DEFAULT_PROTECTED = ['prod', 'production'];

/** Is this environment protected? Per-environment setting > "protected" list > prod/production. */
export function isProtected(config: KitConfig, env: string): boolean {
  const own = config.environments?.[env]?.protected;
  if (own !== undefined) return own;
  return (config.protected ?? DEFAULT_PROTECTED).map((e) => e.toLowerCase()).includes(env.toLowerCase());
}

const cache = new Map<string, KitConfig>();

/** loadConfig, read once per process. */
export function configFor(root: string): KitConfig {
  let config = cache.get(root);
  if (!config) cache.set(root, (config = loadConfig(root)));
  return config;
}

function findSecrets(value: unknown, where: string, found: string[]): void {
  if (typeof value === 'string') {
    if (/:\/\/[^/@\s]*:[^@\s]+@/.test(value)) found.push(`${where} holds a URL with a password`);
    if (value.trim().startsWith('AGE-SECRET-KEY-')) found.push(`${where} holds an age secret key (only public keys, age1…, belong here)`);
  } else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (/pass(word)?|secret|token/i.test(key)) found.push(`${where}.${key} looks like a secret`);
      findSecrets(inner, `${where}.${key}`, found);
    }
  }
}

export function loadConfig(root: string): KitConfig {
  const file = path.join(root, CONFIG_FILE);
  if (!existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new KitError('BAD_ARGUMENT', `${CONFIG_FILE} is not valid JSON: ${(error as Error).message}`);
  }
  const secrets: string[] = [];
  findSecrets(parsed, 'config', secrets);
  if (secrets.length) {
    throw new KitError('BAD_ARGUMENT', `${CONFIG_FILE} must not hold secrets (${secrets.join('; ')}). Put DATABASE_URL and passwords in packages/database/.env.<env> (git-ignored) or the process environment.`);
  }
  const config = parsed as KitConfig;
  const problems: string[] = [];
  const retention = config.retention ?? {};
  for (const key of ['daily', 'weekly', 'monthly', 'keepLast', 'maxAgeDays'] as const) {
    const v = retention[key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0)) problems.push(`retention.${key} must be a whole number ≥ 0`);
  }
  if (retention.timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: retention.timeZone });
    } catch {
      problems.push(`retention.timeZone "${retention.timeZone}" is not a time zone (e.g. Europe/Berlin)`);
    }
  }
  const known = new Set(['backupDir', 'logFile', 'protected', 'sync', 'retention', 'migrate', 'notify', 'remote', 'encryption', 'environments', '$comment']);
  for (const key of Object.keys(config)) if (!known.has(key)) problems.push(`unknown setting "${key}" (known: ${[...known].filter((k) => k !== '$comment').join(', ')})`);
  if (config.protected !== undefined && (!Array.isArray(config.protected) || config.protected.some((e) => typeof e !== 'string'))) problems.push('protected must be a list of environment names');
  checkEncryption(config.encryption, 'encryption', problems);
  for (const [env, settings] of Object.entries(config.environments ?? {})) {
    for (const key of Object.keys(settings)) if (key !== 'protected' && key !== 'remote' && key !== 'encryption') problems.push(`environments.${env}.${key} is not a per-environment setting (known: protected, remote, encryption)`);
    checkEncryption(settings.encryption, `environments.${env}.encryption`, problems);
  }
  if (problems.length) throw new KitError('BAD_ARGUMENT', `${CONFIG_FILE}: ${problems.join('; ')}.`);
  return config;
}

function checkEncryption(value: EncryptionConfig | undefined, where: string, problems: string[]): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${where} must be an object like { "recipients": ["age1…"] }`);
    return;
  }
  for (const key of Object.keys(value)) if (key !== 'recipients' && key !== 'recipientsFile') problems.push(`${where}.${key} is unknown (known: recipients, recipientsFile)`);
  if (value.recipients !== undefined && (!Array.isArray(value.recipients) || value.recipients.some((r) => typeof r !== 'string'))) problems.push(`${where}.recipients must be a list of age public keys`);
  if (value.recipientsFile !== undefined && typeof value.recipientsFile !== 'string') problems.push(`${where}.recipientsFile must be a path`);
}
