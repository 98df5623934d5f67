import { registerCase } from '../registry.js';
import { restoreCase } from './restore-fixture.js';

// The same .dump the restore cases restore, proved by a deep verification: restored into a
// scratch database on the subject's server and compared with the backup's statistics.
registerCase((ctx) =>
  restoreCase(ctx, 'kit-verify-deep', 'kit verify --deep (restore into a scratch database, compare)', (_fixture, dir) => ctx.kit(dir, ['verify', '--latest', '--deep']), {
    label: 'kit verify --deep / raw --single-transaction',
    against: 'raw-restore',
    max: 1.2,
  }),
);
