/**
 * Encryption's cost: a kit backup and a kit restore of the same .dump, encrypted to an age
 * recipient (the age program in its own process), against the unencrypted kit cases of this run.
 * The backup is held to +10%; the restore (which first decrypts into a private file, so no target
 * is ever fed a stream that was not authenticated to its end) is reported with its ratio.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { registerCase, type BenchContext } from '../registry.js';
import { writeNewIdentity } from '../../lib/crypto/keys.js';
import { adminSql, databaseUrl } from './restore-fixture.js';

let key: Promise<{ file: string; recipient: string }> | undefined;

function benchKey(): Promise<{ file: string; recipient: string }> {
  key ??= writeNewIdentity(path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-bench-key-')), 'identity.txt'), new Date()).then((k) => ({ file: k.path, recipient: k.recipient }));
  return key;
}

registerCase((ctx) => ({
  id: 'kit-dump-age',
  label: 'kit --format dump, age-encrypted',
  prepare: async () => void (await benchKey()),
  run: async (dir) => ctx.kit(dir, ['pg-backup', '--format', 'dump', '--skip-space-check'], undefined, { AGE_RECIPIENTS: (await benchKey()).recipient }),
  target: { label: 'encrypted kit dump / kit dump', against: 'kit-dump', max: 1.1 },
}));

let counter = 0;

function encryptedRestore(ctx: BenchContext) {
  const targets = new Map<string, string>();
  const admin = adminSql(ctx);
  const urlOf = (database: string) => databaseUrl(ctx, database);
  return {
    id: 'kit-restore-age',
    label: 'kit restore of an age-encrypted .dump',
    prepare: async (dir: string) => {
      const { recipient } = await benchKey();
      await ctx.kit(dir, ['pg-backup', '--format', 'dump', '--stats', 'archive', '--skip-space-check'], undefined, { AGE_RECIPIENTS: recipient });
      const database = `bench_restore_age_${process.pid}_${++counter}`;
      await admin(`CREATE DATABASE ${database}`);
      targets.set(dir, database);
    },
    run: async (dir: string) => {
      const file = path.join(dir, 'default', readdirSync(path.join(dir, 'default')).find((f) => f.endsWith('.dump.age'))!);
      return ctx.kit(dir, ['pg-restore', file, '--force', '--no-safety-backup'], urlOf(targets.get(dir)!), { AGE_IDENTITY_FILE: (await benchKey()).file });
    },
    cleanup: async (dir: string) => {
      const database = targets.get(dir);
      if (!database) return;
      targets.delete(dir);
      await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
    target: { label: 'encrypted kit restore / kit restore', against: 'kit-restore', max: 1.15 },
  };
}

registerCase(encryptedRestore);
