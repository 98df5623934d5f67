import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDatabase, EXIT_CHECK_ENV, exitCheckFailure, makeProject, REPO } from '../support/harness.js';

/** Run a command the way a user with a careless umask would: umask 000 in the shell that starts it. */
function withUmask000(cwd: string, script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'umask 000; exec "$@"', 'sh', process.execPath, path.join(REPO, 'scripts/kit.mjs'), script, ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: cwd, LANG: 'C.UTF-8', ...EXIT_CHECK_ENV, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const lingered = exitCheckFailure(stderr);
      if (lingered) reject(lingered);
      else resolve({ code, stderr });
    });
  });
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? [full, ...walk(full)] : [full];
  });
}

describe('private by default', () => {
  it('backup directories are 0700 and every file 0600, whatever the umask', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 50) AS id' });
    const project = makeProject();
    const key = path.join(project, 'key.txt');
    execFileSync('age-keygen', ['-o', key], { stdio: 'ignore' });
    const encrypted = { AGE_RECIPIENTS: execFileSync('age-keygen', ['-y', key]).toString().trim(), AGE_IDENTITY_FILE: key };
    const env = { DATABASE_URL: db.url };
    const runs = [['pg-backup', [], {}], ['pg-backup', ['--env', 'other'], encrypted], ['verify', ['--latest', '--env', 'other'], encrypted], ['verify', ['--latest'], {}], ['list', [], {}]] as const;
    for (const [script, args, extra] of runs) {
      const run = await withUmask000(project, script, [...args], { ...env, ...extra });
      expect(run.code, `${script}: ${run.stderr}`).toBe(0);
    }
    const root = path.join(project, 'backups');
    const entries = [root, ...walk(root)];
    expect(entries.filter((f) => f.endsWith('.info')).length).toBe(2);
    expect(entries.filter((f) => f.endsWith('.age')).length).toBeGreaterThan(0);
    expect(entries.some((f) => f.endsWith('.verify.json'))).toBe(true);
    const loose = entries
      .map((f) => ({ f: path.relative(project, f), mode: statSync(f).mode & 0o777, dir: statSync(f).isDirectory() }))
      .filter((e) => e.mode !== (e.dir ? 0o700 : 0o600));
    expect(loose).toEqual([]);
  });
});
