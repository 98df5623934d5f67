/**
 * The optional non-secret config file, backup-kit.json at the repository root. Settings only:
 * a password, or a URL carrying one, is an error that says where secrets belong. Precedence
 * everywhere: flags > environment variables > this file > defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { KitError } from '../errors.js';
import { ConfigSchema, configProblems, type KitConfig } from './schema.js';
import { checkRemoteSettings } from './remote.js';

export const CONFIG_FILE = 'backup-kit.json';

export type { EncryptionConfig, EnvironmentConfig, KitConfig } from './schema.js';

const DEFAULT_PROTECTED = ['prod', 'production'];

/** Is this environment protected? Per-environment setting > "protected" list > prod/production. */
export function isProtected(config: KitConfig, env: string): boolean {
  const own = config.environments?.[env]?.protected;
  if (own !== undefined) return own;
  return (config.protected ?? DEFAULT_PROTECTED).map((e) => e.toLowerCase()).includes(env.toLowerCase());
}

/** The role db:sql's read-only sessions run as, if one is configured (the environment's own first). */
export function readOnlyRole(config: KitConfig, env: string): string | undefined {
  return config.environments?.[env]?.sql?.readOnlyRole ?? config.sql?.readOnlyRole;
}

/** The environment db:sync and db:refresh read from: --from, else sync.from, else prod. */
export function syncSource(config: KitConfig, from: string | undefined): string {
  return from ?? config.sync?.from ?? 'prod';
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
      // The keys of export.differential.basis are table names (app.password_resets), not settings.
      if (where !== 'config.export.differential.basis' && /pass(word)?|secret|token/i.test(key)) found.push(`${where}.${key} looks like a secret`);
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
    throw new KitError('BAD_CONFIG', `${CONFIG_FILE} is not valid JSON: ${(error as Error).message}`);
  }
  const secrets: string[] = [];
  findSecrets(parsed, 'config', secrets);
  if (secrets.length) {
    throw new KitError('BAD_CONFIG', `${CONFIG_FILE} must not hold secrets (${secrets.join('; ')}). Put DATABASE_URL and passwords in packages/database/.env.<env> (git-ignored) or the process environment.`);
  }
  const checked = ConfigSchema.safeParse(parsed);
  if (checked.success) return checked.data; // remote sections alone are judged by resolveRemote (REMOTE_CONFIG)
  // Report the remote sections' problems too, so one run names everything to fix.
  const problems = [...configProblems(checked.error), ...remoteProblems(parsed)];
  throw new KitError('BAD_CONFIG', `${CONFIG_FILE} has ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}: ${problems.join('; ')}. Fix ${problems.length === 1 ? 'it' : 'them'} and run the command again.`);
}

function remoteProblems(parsed: unknown): string[] {
  if (!parsed || typeof parsed !== 'object') return [];
  const raw = parsed as { remote?: unknown; environments?: unknown };
  const problems = checkRemoteSettings(raw.remote, 'remote');
  const environments = raw.environments && typeof raw.environments === 'object' ? (raw.environments as Record<string, unknown>) : {};
  for (const [env, settings] of Object.entries(environments)) {
    if (settings && typeof settings === 'object') problems.push(...checkRemoteSettings((settings as { remote?: unknown }).remote, `environments.${env}.remote`));
  }
  return problems;
}
