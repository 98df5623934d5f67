import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, makeProject } from '../support/harness.js';

describe('db:keygen', () => {
  it('writes a 0600 identity, prints its public key and the warning, and never overwrites it', async () => {
    const project = makeProject();
    const run = await cli('keygen', ['--output', 'keys/backup.key'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    const file = path.join(project, 'keys/backup.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const publicKey = execFileSync('age-keygen', ['-y', file]).toString().trim();
    expect(run.stdout).toContain(`Public key: ${publicKey}`);
    expect(run.stdout).toMatch(/Losing this file loses every backup encrypted to its public key/);
    const before = readFileSync(file, 'utf8');
    const again = await cli('keygen', ['--output', 'keys/backup.key'], { cwd: project });
    expect(again.code).toBe(21);
    expect(again.stderr).toMatch(/already exists; the kit never overwrites an identity/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('defaults to the user\'s config directory, outside the repository', async () => {
    const project = makeProject();
    const run = await cli('keygen', ['--json'], { cwd: project, env: { HOME: project } });
    expect(run.code, run.stderr).toBe(0);
    const result = run.json<{ identityFile: string; publicKey: string }>();
    expect(result.identityFile).toBe(path.join(project, '.config/pg-backup-kit/age-identity.txt'));
    expect(statSync(path.dirname(result.identityFile)).mode & 0o777).toBe(0o700);
    expect(result.publicKey).toMatch(/^age1/);
  });
});
