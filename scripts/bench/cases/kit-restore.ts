import { registerCase } from '../registry.js';
import { restoreCase } from './restore-fixture.js';

registerCase((ctx) =>
  restoreCase(ctx, 'kit-restore', 'kit restore (one transaction)', (f, dir) => f.kit(dir, []), {
    label: 'kit restore / raw --single-transaction',
    against: 'raw-restore',
    max: 1.1,
  }),
);
