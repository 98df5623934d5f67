/**
 * Physical backups against pgBackRest on one archiving cluster (see physical-fixture.ts): a full
 * backup each (lz4, immediate checkpoint), and a restore each to a started server that finished
 * recovery (pgBackRest: restore, pg_ctl start, wait for promotion; the kit: restore-physical,
 * whose proof starts the server, waits for promotion, checks every database and stops it).
 */
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../lib/engines/postgres/cluster.js';
import { registerCase } from '../registry.js';
import { pgbackrest, physicalFixture, serverDir } from './physical-fixture.js';

registerCase((ctx) => ({
  id: 'pgbackrest-backup',
  label: 'pgBackRest full backup (lz4)',
  prepare: async () => void (await physicalFixture(ctx)),
  run: async () => {
    await pgbackrest(await physicalFixture(ctx), ['--type=full', 'backup'], ctx.signal);
    return {};
  },
  cleanup: async () => void (await pgbackrest(await physicalFixture(ctx), ['expire', '--repo1-retention-full=1'], ctx.signal)),
}));

registerCase((ctx) => ({
  id: 'kit-physical-backup',
  label: 'kit backup-physical (lz4)',
  prepare: async () => void (await physicalFixture(ctx)),
  run: async () => (await physicalFixture(ctx)).kit(['backup-physical', '--skip-space-check'], ctx.signal),
  cleanup: async () => void (await (await physicalFixture(ctx)).kitUntimed(['retention-physical', '--keep-last', '1', '--daily', '0', '--weekly', '0', '--monthly', '0'], ctx.signal)),
  target: { label: 'kit physical backup / pgBackRest full backup', against: 'pgbackrest-backup', max: 1.0 },
}));

registerCase((ctx) => ({
  id: 'pgbackrest-restore',
  label: 'pgBackRest restore + start',
  prepare: async () => void (await physicalFixture(ctx)),
  run: async (dir) => {
    const f = await physicalFixture(ctx);
    const data = serverDir(dir, 'data', f);
    const run = serverDir(dir, 'run', f);
    await pgbackrest(f, [`--pg1-path=${data}`, 'restore'], ctx.signal);
    const pgCtl = path.join(f.cluster.binDir, 'pg_ctl');
    const port = String(await freePort());
    await f.asServer(pgCtl, ['-D', data, '-l', path.join(run, 'log'), '-w', '-o', `-p ${port} -c listen_addresses='' -c unix_socket_directories=${run} -c archive_mode=off`, 'start'], ctx.signal);
    const psql = path.join(f.cluster.binDir, 'psql');
    for (;;) {
      const out = await f.asServer(psql, ['-h', run, '-p', port, '-XtAc', 'SELECT pg_is_in_recovery()', 'postgres'], ctx.signal);
      if (out.trim() === 'f') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return {};
  },
  cleanup: async (dir) => {
    const f = await physicalFixture(ctx);
    await f.asServer(path.join(f.cluster.binDir, 'pg_ctl'), ['-D', path.join(dir, 'data'), '-m', 'immediate', '-w', 'stop'], ctx.signal).catch(() => undefined);
  },
}));

registerCase((ctx) => ({
  id: 'kit-physical-restore',
  label: 'kit restore-physical (proven)',
  prepare: async () => void (await physicalFixture(ctx)),
  run: async (dir) => {
    const f = await physicalFixture(ctx);
    chmodSync(dir, 0o711); // the server's user must reach the new directory
    return f.kit(['restore-physical', '--latest', '--target-dir', path.join(dir, 'data')], ctx.signal);
  },
  target: { label: 'kit physical restore / pgBackRest restore + start', against: 'pgbackrest-restore', max: 1.2 },
}));
