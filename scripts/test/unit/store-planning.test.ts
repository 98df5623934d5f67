import { describe, expect, it } from 'vitest';
import { listCommand } from '../../lib/commands/list.js';
import { retentionCommand } from '../../lib/commands/retention.js';
import { verifyCommand } from '../../lib/commands/verify.js';
import type { CliContext, CommonArgs } from '../../lib/cli/run.js';
import { silentReporter } from '../../lib/context.js';
import type { BackupInfo } from '../../lib/format/metadata.js';
import { withStores } from '../../lib/store/environment.js';
import { MemoryStore } from '../support/memory-store.js';
import { DUMP_SCRIPT, scriptBackupInfo } from '../support/infos.js';

const COMMON: CommonArgs = { json: true, quiet: true, progress: false, url: undefined, env: undefined, envFile: undefined };
const NOW = new Date('2026-11-21T12:00:00Z');

function context(store: MemoryStore): CliContext {
  return withStores<Omit<CliContext, 'environment'>>(
    {
      root: '/nonexistent-project',
      env: {},
      signal: new AbortController().signal,
      reporter: silentReporter,
      now: () => NOW,
      target: () => {
        throw new Error('no database in a unit test');
      },
    },
    () => store,
  );
}

const SCRIPT = DUMP_SCRIPT;

function backupOf(type: string, takenAt: string, script = SCRIPT): { info: BackupInfo; bytes: Buffer } {
  const started = new Date(takenAt);
  const id = `backup_${type}_${takenAt.replace(/[-:]/g, '').replace('T', '_').slice(0, 15)}`;
  // The .info records the canonical script whatever bytes the store is handed (a damaged copy).
  const info = scriptBackupInfo(id, type, started);
  return { info, bytes: script };
}

function storeWith(...backups: Array<{ info: BackupInfo; bytes: Buffer }>): MemoryStore {
  const store = new MemoryStore();
  for (const b of backups) store.put(b.info, { [b.info.artifacts[0]!.file]: b.bytes });
  return store;
}

describe('a second BackupStore plugs in without any command changing', () => {
  it('db:list lists an in-memory store newest first, with its leftovers', async () => {
    const store = storeWith(backupOf('manual', '2026-11-20T10:00:00Z'), backupOf('auto', '2026-11-21T10:00:00Z'));
    store.files.set('backup_manual_20261119_100000.dump.partial', Buffer.from('x'));
    const result = await listCommand.run({ ...COMMON, type: undefined }, context(store));
    expect(result.dir).toBe('memory://test');
    expect(result.backups.map((b) => [b.id, b.store])).toEqual([
      ['backup_auto_20261121_100000', 'memory'],
      ['backup_manual_20261120_100000', 'memory'],
    ]);
    expect(result.leftovers).toEqual([{ file: 'memory://test/backup_manual_20261119_100000.dump.partial', reason: 'no .info (incomplete backup)', bytes: 1, kind: 'partial' }]);
  });

  it('db:retention plans and deletes through the store, keeping the newest', async () => {
    const store = storeWith(backupOf('manual', '2026-01-01T10:00:00Z'), backupOf('manual', '2026-11-21T10:00:00Z'));
    const ctx = context(store);
    const parsed = retentionCommand.parse({ 'max-age': '30' }, [], COMMON);
    const result = await retentionCommand.run(parsed, ctx);
    expect(result.decisions.map((d) => [d.id, d.keep])).toEqual([
      ['backup_manual_20261121_100000', true],
      ['backup_manual_20260101_100000', false],
    ]);
    expect([...store.files.keys()].filter((n) => n.includes('20260101'))).toEqual([]);
    expect(store.locked).toBeUndefined();
  });

  it('db:verify checks artifacts the store hands out and records the outcome in it', async () => {
    const good = backupOf('manual', '2026-11-20T10:00:00Z');
    const bad = backupOf('manual', '2026-11-21T10:00:00Z', Buffer.from(SCRIPT.toString().replace('SET', 'SEX')));
    const store = storeWith(good, bad);
    const ctx = context(store);
    const passed = await verifyCommand.run(verifyCommand.parse({}, [good.info.id], COMMON), ctx);
    expect(passed.verified[0]).toMatchObject({ id: good.info.id, ok: true });
    expect(JSON.parse(store.files.get(`${good.info.id}.verify.json`)!.toString())).toMatchObject({ ok: true, level: 'quick' });
    const failed = verifyCommand.run(verifyCommand.parse({ latest: true }, [], COMMON), ctx);
    await expect(failed).rejects.toThrow(/sha256 is .*damaged or changed/);
    expect(JSON.parse(store.files.get(`${bad.info.id}.verify.json`)!.toString())).toMatchObject({ ok: false });
  });

  it('a backup deleted while it is verified (retention ran meanwhile) is reported as deleted, leaving no record', async () => {
    const doomed = backupOf('manual', '2026-11-20T10:00:00Z');
    const kept = backupOf('manual', '2026-11-21T10:00:00Z');
    const store = storeWith(doomed, kept);
    const open = store.localFile.bind(store);
    // retention removes the backup the moment verify has opened its artifact
    store.localFile = async (backup, file) => {
      const copy = await open(backup, file);
      if (backup.id === doomed.info.id) await store.remove(backup);
      return copy;
    };
    const notices: string[] = [];
    const ctx = Object.assign(context(store), { reporter: { progress: () => undefined, notice: (m: string) => notices.push(m) } });
    const all = await verifyCommand.run(verifyCommand.parse({ all: true }, [], COMMON), ctx);
    expect(all.verified.map((v) => [v.id, v.ok])).toEqual([[kept.info.id, true]]);
    expect(notices).toEqual([expect.stringMatching(new RegExp(`${doomed.info.id} was deleted while it was being verified`))]);
    expect([...store.files.keys()].filter((n) => n.startsWith(doomed.info.id))).toEqual([]);
  });

  it('refuses an environment name that is a path, before any store is opened', () => {
    const store = new MemoryStore();
    expect(() => context(store).environment('../../elsewhere')).toThrow(/--env must be a simple name/);
  });
});
