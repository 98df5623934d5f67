import path from 'node:path';
import { openSync, closeSync } from 'node:fs';
import { pipeProcesses, startProcess } from '../../lib/proc/process.js';
import { registerCase, type BenchContext } from '../registry.js';

/** `pg_dump -Fp | gzip -6 > out`, with both exit statuses checked (a shell would drop pg_dump's). */
async function dumpThroughGzip(ctx: BenchContext, out: string): Promise<void> {
  const fd = openSync(out, 'w', 0o600);
  const options = { env: ctx.subject.env, signal: ctx.signal, failure: 'PG_DUMP_FAILED' } as const;
  let gzip;
  try {
    gzip = startProcess('gzip', ['-6'], { ...options, stdio: ['pipe', fd, 'pipe'] });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  const dump = startProcess(ctx.bin('pg_dump'), ['-Fp'], options);
  await pipeProcesses(dump, gzip);
}

registerCase((ctx) => ({
  id: 'naive-all',
  label: 'naive: 4 x pg_dump in sequence',
  run: async (dir) => {
    await ctx.tool('pg_dump', ['-Fp', '-f', path.join(dir, 'out.sql')]);
    await dumpThroughGzip(ctx, path.join(dir, 'out.sql.gz'));
    await ctx.tool('pg_dump', ['-Fc', '-f', path.join(dir, 'out.dump')]);
    await ctx.tool('pg_dump', ['-Ft', '-f', path.join(dir, 'out.tar')]);
    return {};
  },
}));
