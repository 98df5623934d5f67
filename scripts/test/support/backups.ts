/** Shared steps of restore tests: take a backup with the CLI and read what it made. */
import { writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { serializeInfo, type BackupInfo } from '../../lib/format/metadata.js';
import { fingerprintDatabase, type DatabaseFingerprint } from './fingerprint.js';
import { cli, cluster } from './harness.js';

export async function takeBackup(project: string, url: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<BackupResult> {
  const run = await cli('pg-backup', ['--json', ...args], { cwd: project, env: { DATABASE_URL: url, ...env } });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.json<BackupResult>();
}

export function fingerprint(url: string): Promise<DatabaseFingerprint> {
  return fingerprintDatabase(url, { pgBin: cluster().binDir });
}

export function fileOf(result: BackupResult, format: string): string {
  const file = result.files.find((f) => f.format === format);
  if (!file) throw new Error(`backup ${result.id} has no ${format}`);
  return file.path;
}

/** Write a .info the way the kit does, sealed with its own checksum (for tests that edit one on purpose). */
export function writeInfo(file: string, info: object): void {
  writeFileSync(file, serializeInfo(info as BackupInfo));
}
