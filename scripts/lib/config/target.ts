/**
 * Target resolution: the single place that decides which database a command talks to.
 *
 * Precedence, highest first:
 *   1. --url
 *   2. the process environment (DATABASE_URL, or DB_HOST/DB_PORT/DB_USER/... discrete variables)
 *   3. --env-file <path>, or packages/database/.env.<env> with --env <env>,
 *      else packages/database/.env, then the root .env
 * Each layer is taken whole: the first layer that names a database decides the connection, so
 * a host from one file is never paired with a password from another.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { KitError } from '../errors.js';
import { redact, redactUrl, registerSecret } from '../redact.js';
import type { EngineName } from '../format/metadata.js';
import { checkEnvironmentName } from './environment-name.js';
import { configFor, isProtected } from './file.js';

export interface Target {
  /** The database engine that serves it: absent means PostgreSQL (every target before MySQL). */
  engine?: EngineName;
  /** A name, an address, or (starting with "/") a unix socket: a directory for PostgreSQL, the socket file for MySQL. */
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** The URL's query parameters (libpq's sslmode, sslrootcert, …), password and socket excluded. */
  params: Record<string, string>;
  /** Environment name: the --env value, or "default". Backups of each env are kept apart. */
  env: string;
  /** Human description of where the connection came from, e.g. "packages/database/.env.prod". */
  source: string;
  /** Protected targets (prod/production) need stronger confirmation for destructive commands. */
  protected: boolean;
  /**
   * The flags besides --env that reach this target again (--url without its password, or
   * --env-file), for every command the kit prints for a person to run next.
   */
  reach?: string[];
}

export interface ResolveOptions {
  url?: string | undefined;
  env?: string | undefined;
  envFile?: string | undefined;
  root: string;
  processEnv: NodeJS.ProcessEnv;
}

type Vars = Record<string, string | undefined>;
interface Layer {
  name: string;
  vars: Vars;
}

/** Variables that carry a connection or a secret: stripped from what children inherit. */
export const CONNECTION_VARIABLES = [
  'DATABASE_URL',
  'DB_HOST',
  'DB_PORT',
  'DB_USER',
  'DB_USERNAME',
  'DB_PASSWORD',
  'DB_DATABASE',
  'DB_NAME',
  'DB_ENGINE',
] as const;

/** The URL schemes the kit reads, and the engine each names. */
const SCHEMES: Record<string, EngineName> = { 'postgresql:': 'postgresql', 'postgres:': 'postgresql', 'mysql:': 'mysql', 'mariadb:': 'mysql' };
/** What a person may write in DB_ENGINE, and the engine each names. */
const ENGINE_WORDS: Record<string, EngineName> = { postgresql: 'postgresql', postgres: 'postgresql', mysql: 'mysql', mariadb: 'mysql' };
const DEFAULTS: Record<EngineName, { port: number; user: string; example: string }> = {
  postgresql: { port: 5432, user: 'postgres', example: 'postgresql://user:password@host:5432/database' },
  mysql: { port: 3306, user: 'root', example: 'mysql://user:password@host:3306/database' },
};
const SCHEME_LIST = 'postgresql://, mysql:// or mariadb://';
/** "scheme://user@" followed by no host: the URL parser needs one, libpq and the kit allow none. */
const EMPTY_HOST = /^((?:postgres(?:ql)?|mysql|mariadb):\/\/[^/?#]*@)(?=[/?#]|$)/i;

export function resolveTarget(options: ResolveOptions): Target {
  const env = checkEnvironmentName(options.env ?? 'default');
  const layers = connectionLayers(options, env);
  for (const layer of layers) {
    const target = targetFromLayer(layer, env);
    if (target) return { ...target, protected: isProtected(configFor(options.root), env), reach: reachFlags(layer, options) };
  }
  throw new KitError('NO_DATABASE_URL', noTargetMessage(options, env));
}

/**
 * The flags a printed command needs to connect where this one did. A URL is printed without its
 * password (a secret never reaches output): the command then takes it from ~/.pgpass or
 * PGPASSFILE, as libpq and the kit do for any URL without one.
 */
function reachFlags(layer: Layer, options: ResolveOptions): string[] {
  if (layer.name === '--url' && options.url !== undefined) {
    const url = new URL(options.url.replace(EMPTY_HOST, '$1localhost'));
    url.password = '';
    url.searchParams.delete('password');
    return ['--url', url.toString()];
  }
  return options.envFile !== undefined ? ['--env-file', options.envFile] : [];
}

function connectionLayers(options: ResolveOptions, env: string): Layer[] {
  const layers: Layer[] = [];
  if (options.url !== undefined) layers.push({ name: '--url', vars: { DATABASE_URL: options.url } });
  layers.push({ name: 'the environment', vars: options.processEnv });
  for (const file of envFileCandidates(options, env)) {
    if (!existsSync(file)) continue;
    const name = path.relative(options.root, file) || file;
    const problem = envFileProblem(file);
    if (problem) throw new KitError('ENV_FILE_UNREADABLE', `${name} ${problem.what}; the connection settings are read from it. Make it a readable file with DATABASE_URL=… in it, or remove it.`);
    layers.push({ name, vars: readEnvFile(file) });
  }
  return layers;
}

/** Why `file` cannot be read as an env file, or undefined. A pipe (`--env-file <(…)`) is a file here. */
function envFileProblem(file: string): { code: 'ENV_FILE_MISSING' | 'ENV_FILE_UNREADABLE'; what: string } | undefined {
  try {
    if (statSync(file).isDirectory()) return { code: 'ENV_FILE_UNREADABLE', what: 'is a directory, not a file' };
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { code: 'ENV_FILE_MISSING', what: 'does not exist' };
    return { code: 'ENV_FILE_UNREADABLE', what: `cannot be read (${code === 'EACCES' ? 'permission denied' : code})` };
  }
}

/** --env-file as given, checked to be a readable file (every command checks it before anything runs). */
export function checkEnvFile(root: string, given: string): string {
  const file = path.resolve(root, given);
  const problem = envFileProblem(file);
  if (problem) throw new KitError(problem.code, `--env-file ${given} ${problem.what}. Give the path of a file with DATABASE_URL=… in it.`);
  return file;
}

function envFileCandidates(options: ResolveOptions, env: string): string[] {
  if (options.envFile !== undefined) return [checkEnvFile(options.root, options.envFile)];
  // With --env, only that environment's file counts: falling back to the generic .env (usually
  // a developer's local database) would silently back up or restore the wrong server.
  if (options.env !== undefined) return [path.join(options.root, 'packages/database', `.env.${env}`)];
  return [path.join(options.root, 'packages/database/.env'), path.join(options.root, '.env')];
}

function readEnvFile(file: string): Vars {
  const text = readFileSync(file, 'utf8');
  // In an unquoted value "#" starts a comment, so "DATABASE_URL=postgresql://u:ab#cd@h/db" would
  // be read as "postgresql://u:ab": a wrong target, and half a password in the error message.
  for (const match of text.matchAll(/^[ \t]*(?:export[ \t]+)?(DATABASE_URL|DB_PASSWORD)[ \t]*=[ \t]*([^'"`\s#][^\r\n]*)$/gm)) {
    const [, name, value] = match;
    if (value && /[^\s]#/.test(value)) {
      registerLikelyPassword(value);
      if (name === 'DB_PASSWORD') registerSecret(value.replace(/[ \t]+#.*$/, ''));
      throw new KitError('BAD_DATABASE_URL', `${name} in ${file} holds a "#" outside quotes, which starts a comment there, so the value would be cut short. Quote the value (${name}="…") and percent-encode a "#" in a URL's password as %23.`);
    }
  }
  return parseDotenv(text);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** DB_ENGINE's engine (absent: PostgreSQL); a word the kit does not know is refused, never guessed. */
function engineFromVariable(layer: Layer): EngineName {
  const word = nonEmpty(layer.vars.DB_ENGINE);
  if (word === undefined) return 'postgresql';
  const engine = ENGINE_WORDS[word.toLowerCase()];
  if (!engine) throw new KitError('BAD_DATABASE_URL', `DB_ENGINE in ${layer.name} is "${word}"; the kit knows postgresql, mysql and mariadb.`);
  return engine;
}

function targetFromLayer(layer: Layer, env: string): Target | undefined {
  const url = nonEmpty(layer.vars.DATABASE_URL);
  if (url) return withEngineAgreeing(targetFromUrl(url, layer.name, env), layer);
  const host = nonEmpty(layer.vars.DB_HOST);
  const database = nonEmpty(layer.vars.DB_DATABASE) ?? nonEmpty(layer.vars.DB_NAME);
  if (!host && !database) return undefined;
  const engine = engineFromVariable(layer);
  const defaults = DEFAULTS[engine];
  if (!database) {
    throw new KitError('BAD_DATABASE_URL', `${layer.name} sets DB_HOST but no database name. Add DB_DATABASE (or DB_NAME), or use DATABASE_URL=${defaults.example}.`);
  }
  const portText = nonEmpty(layer.vars.DB_PORT) ?? String(defaults.port);
  const port = parsePort(portText, `DB_PORT in ${layer.name}`);
  const password = layer.vars.DB_PASSWORD === '' ? undefined : layer.vars.DB_PASSWORD;
  registerSecret(password);
  return {
    ...(engine === 'postgresql' ? {} : { engine }),
    host: host ?? 'localhost',
    port,
    user: nonEmpty(layer.vars.DB_USER) ?? nonEmpty(layer.vars.DB_USERNAME) ?? defaults.user,
    password,
    database,
    params: {},
    env,
    source: layer.name,
    protected: false,
  };
}

/** A DATABASE_URL decides the engine by its scheme; a DB_ENGINE beside it that says otherwise is a mistake worth naming. */
function withEngineAgreeing(target: Target, layer: Layer): Target {
  if (nonEmpty(layer.vars.DB_ENGINE) === undefined) return target;
  const said = engineFromVariable(layer);
  const scheme = target.engine ?? 'postgresql';
  if (said !== scheme) {
    throw new KitError('BAD_DATABASE_URL', `${layer.name} sets DB_ENGINE=${layer.vars.DB_ENGINE!.trim()} but its DATABASE_URL is a ${scheme} URL. Remove DB_ENGINE (the URL's scheme decides), or correct one of them.`);
  }
  return target;
}

function parsePort(text: string, where: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new KitError('BAD_DATABASE_URL', `${where} has port "${text}", which is not a port number (1-65535).`);
  }
  return port;
}

/**
 * Whatever might be the password of a URL too malformed to parse, registered as a secret before
 * anything can print it: between "scheme://user:" (or "scheme:" without "//") and the last "@".
 */
function registerLikelyPassword(url: string): void {
  const withSlashes = /^[a-z][a-z0-9+.-]*:\/\/[^:@/]*:(.*)@/i.exec(url);
  if (withSlashes?.[1]) registerSecret(withSlashes[1]);
  const withoutSlashes = /^[a-z][a-z0-9+.-]*:(?!\/\/)(?:[^:@/]*:)?(.*)@/i.exec(url);
  if (withoutSlashes?.[1]) registerSecret(withoutSlashes[1]);
}

/**
 * A connection URL: postgresql:// (or postgres://) in libpq's form, or mysql:// / mariadb:// for
 * MySQL and MariaDB (default port 3306, user root; a unix socket as ?socket=/path).
 */
export function targetFromUrl(url: string, source: string, env: string): Target {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    registerLikelyPassword(url);
    // "postgres:PW@host/db" parses as a URL with no host, which would connect to localhost and
    // read the password as the database name: refuse it, without echoing it.
    throw new KitError('BAD_DATABASE_URL', `DATABASE_URL from ${source} must start with ${SCHEME_LIST} (with both slashes). Expected ${DEFAULTS.postgresql.example} or ${DEFAULTS.mysql.example}.`);
  }
  let parsed: URL;
  try {
    // libpq allows an empty host after credentials (postgresql://user@/db?host=/run/postgresql);
    // the URL parser does not, so give it a placeholder that ?host= (?socket=) or the default replaces.
    parsed = new URL(url.replace(EMPTY_HOST, '$1localhost'));
  } catch {
    registerLikelyPassword(url);
    const engine = SCHEMES[/^[a-z][a-z0-9+.-]*:/i.exec(url)![0].toLowerCase()] ?? 'postgresql';
    throw new KitError('BAD_DATABASE_URL', `DATABASE_URL from ${source} is not a valid URL (${redact(url)}). Expected ${DEFAULTS[engine].example}; percent-encode special characters in the password.`);
  }
  const engine = SCHEMES[parsed.protocol];
  if (!engine) {
    registerSecret(parsed.password ? parsed.password : undefined);
    throw new KitError('BAD_DATABASE_URL', `DATABASE_URL from ${source} must start with ${SCHEME_LIST} (got ${parsed.protocol}//). Expected ${DEFAULTS.postgresql.example} or ${DEFAULTS.mysql.example}.`);
  }
  const defaults = DEFAULTS[engine];
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new KitError('BAD_DATABASE_URL', `DATABASE_URL from ${source} has a badly percent-encoded ${what}.`);
    }
  };
  const password = parsed.password ? decode(parsed.password, 'password') : undefined;
  registerSecret(password);
  const params: Record<string, string> = {};
  for (const [key, value] of parsed.searchParams) {
    if (key === 'password') {
      registerSecret(value);
      throw new KitError('BAD_DATABASE_URL', `DATABASE_URL from ${source} carries the password as a query parameter; put it in the user:password@ part instead.`);
    }
    params[key] = value;
  }
  // PostgreSQL names a socket directory as ?host=/dir (libpq); MySQL a socket file as ?socket=/path.
  const socketParam = engine === 'mysql' ? 'socket' : 'host';
  const socketHost = params[socketParam];
  delete params[socketParam];
  if (engine === 'mysql' && socketHost !== undefined && !socketHost.startsWith('/')) {
    throw new KitError('BAD_DATABASE_URL', `DATABASE_URL from ${source} has socket=${socketHost}; give the socket file's absolute path (?socket=/run/mysqld/mysqld.sock).`);
  }
  const database = decode(parsed.pathname.replace(/^\//, ''), 'database name');
  if (!database) {
    throw new KitError('BAD_DATABASE_URL', `DATABASE_URL from ${source} names no database (${redactUrl(url)}). Add it after the host: ${defaults.example}.`);
  }
  const host = socketHost ?? (parsed.hostname ? decode(parsed.hostname, 'host').replace(/^\[(.*)\]$/, '$1') : 'localhost');
  return {
    ...(engine === 'postgresql' ? {} : { engine }),
    host,
    port: parsed.port ? parsePort(parsed.port, `DATABASE_URL from ${source}`) : defaults.port,
    user: parsed.username ? decode(parsed.username, 'user') : defaults.user,
    password,
    database,
    params,
    env,
    source,
    protected: false,
  };
}

function noTargetMessage(options: ResolveOptions, env: string): string {
  const files = options.envFile !== undefined ? [options.envFile] : envFileCandidates(options, env).map((f) => path.relative(options.root, f));
  return `No database configured${options.env ? ` for --env ${env}` : ''}. Set DATABASE_URL=${DEFAULTS.postgresql.example} (or ${DEFAULTS.mysql.example}) in ${files.join(' or ')} (copy packages/database/.env.example), export it, or pass --url.`;
}

/**
 * The target as a URL, password included, for a child that only takes DATABASE_URL (the app's
 * migration tool). It goes into that child's environment only, never to argv or output.
 */
export function targetUrl(target: Target): string {
  const mysql = target.engine === 'mysql';
  const socket = target.host.startsWith('/');
  const auth = `${encodeURIComponent(target.user)}${target.password !== undefined ? `:${encodeURIComponent(target.password)}` : ''}@`;
  const url = new URL(`${mysql ? 'mysql' : 'postgresql'}://${auth}${socket ? 'localhost' : target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}/${encodeURIComponent(target.database)}`);
  for (const [key, value] of Object.entries(target.params)) url.searchParams.set(key, value);
  if (socket) url.searchParams.set(mysql ? 'socket' : 'host', target.host);
  return url.toString();
}

/** How the target may be shown to a person: never with its password. */
export function describeTarget(target: Target): string {
  // A MySQL socket is the whole address (the port means nothing there); a PostgreSQL socket
  // directory still names its port (.s.PGSQL.<port>).
  if (target.engine === 'mysql' && target.host.startsWith('/')) return `${target.user}@${target.host}/${target.database}`;
  return `${target.user}@${target.host}:${target.port}/${target.database}`;
}

/**
 * The libpq environment for a child process. The password travels here and nowhere else; every
 * inherited PG* or connection variable is removed first so nothing stale overrides the target.
 */
export function childEnv(target: Target, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (key.startsWith('PG') || MYSQL_CLIENT_VARIABLES.includes(key) || (CONNECTION_VARIABLES as readonly string[]).includes(key)) continue;
    env[key] = value;
  }
  // MySQL's programs take the connection from the private option file startMySqlTool writes
  // (engines/mysql/tools.ts): nothing of it, and never the password, travels in the environment.
  if (target.engine === 'mysql') return env;
  env.PGHOST = target.host;
  env.PGPORT = String(target.port);
  env.PGUSER = target.user;
  env.PGDATABASE = target.database;
  env.PGAPPNAME = 'pg-backup-kit';
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  if (base.PGPASSFILE) env.PGPASSFILE = base.PGPASSFILE;
  for (const [key, value] of Object.entries(target.params)) {
    const name = LIBPQ_PARAM_ENV[key];
    if (name) env[name] = value;
  }
  if (!env.PGCONNECT_TIMEOUT) env.PGCONNECT_TIMEOUT = '10';
  return env;
}

/**
 * What MySQL's client programs read from their environment: a stale one would override or add to
 * the option file (MYSQL_PWD, deprecated, is a password; MYSQL_HOST another server).
 */
const MYSQL_CLIENT_VARIABLES = ['MYSQL_PWD', 'MYSQL_HOST', 'MYSQL_TCP_PORT', 'MYSQL_UNIX_PORT', 'MYSQL_HOME', 'MYSQL_TEST_LOGIN_FILE', 'MARIADB_HOME'];

const LIBPQ_PARAM_ENV: Record<string, string> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  options: 'PGOPTIONS',
  application_name: 'PGAPPNAME',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  channel_binding: 'PGCHANNELBINDING',
  gssencmode: 'PGGSSENCMODE',
};
