import { registerCase } from '../registry.js';
import { restoreCase } from './restore-fixture.js';

// Raw pg_restore leaves statistics to autovacuum, so the like-for-like kit run does too; the
// kit's default (which analyzes before it returns) is held against pg_restore plus ANALYZE.
registerCase((ctx) =>
  restoreCase(ctx, 'kit-restore-no-analyze', 'kit restore --no-analyze (one transaction)', (f, dir) => f.kit(dir, ['--no-analyze']), {
    label: 'kit restore --no-analyze / raw --single-transaction',
    against: 'raw-restore',
    max: 1.1,
  }),
);

registerCase((ctx) =>
  restoreCase(ctx, 'kit-restore', 'kit restore (one transaction, then ANALYZE)', (f, dir) => f.kit(dir, []), {
    label: 'kit restore / raw --single-transaction then ANALYZE',
    against: 'raw-restore-analyze',
    max: 1.1,
  }),
);
