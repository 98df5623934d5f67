/**
 * Where PostgreSQL's programs live on this machine and how they name their version: shared by the
 * engine's client tools (pg_dump, pg_restore, psql) and the physical programs (pg_basebackup,
 * pg_ctl), which both pick a binary by the server's major version.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';

/** "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → { version: "15.18", major: 15 } */
export function parseToolVersion(output: string): { version: string; major: number } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(output);
  if (!match?.[1]) return undefined;
  const major = Number(match[1]);
  const version = [match[1], match[2], match[3]].filter((p) => p !== undefined).join('.');
  // Before PostgreSQL 10 the major version had two parts (9.6).
  return { version, major: major < 10 && match[2] !== undefined ? Number(`${major}.${match[2]}`) : major };
}

/**
 * Directories to look in, in order. PG_BIN, when set, is the only place looked. Versioned
 * directories for the server's own major version come first: on Debian the pg_dump on PATH is a
 * wrapper script that costs a Perl start on every call.
 */
export function candidateDirs(env: NodeJS.ProcessEnv, bindirFromPgConfig?: string, serverMajor?: number): string[] {
  if (env.PG_BIN) return [env.PG_BIN];
  const dirs: string[] = [];
  if (serverMajor !== undefined) {
    dirs.push(`/usr/lib/postgresql/${serverMajor}/bin`, `/opt/homebrew/opt/postgresql@${serverMajor}/bin`, `/usr/local/opt/postgresql@${serverMajor}/bin`);
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) if (dir) dirs.push(dir);
  if (bindirFromPgConfig) dirs.push(bindirFromPgConfig);
  const versioned = (parent: string, pattern: RegExp, suffix: string): string[] => {
    try {
      return readdirSync(parent)
        .filter((name) => pattern.test(name))
        .sort((a, b) => Number(b.replace(/\D+/g, '')) - Number(a.replace(/\D+/g, '')))
        .map((name) => path.join(parent, name, suffix));
    } catch {
      return [];
    }
  };
  dirs.push(...versioned('/usr/lib/postgresql', /^\d+$/, 'bin'));
  dirs.push(...versioned('/opt/homebrew/opt', /^postgresql(@\d+)?$/, 'bin'));
  dirs.push(...versioned('/usr/local/opt', /^postgresql(@\d+)?$/, 'bin'));
  dirs.push(...versioned('/Applications/Postgres.app/Contents/Versions', /^\d+$/, 'bin'));
  dirs.push('/opt/homebrew/bin', '/usr/local/bin');
  return [...new Set(dirs)];
}
