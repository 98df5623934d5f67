import { registerCase } from '../registry.js';
import { restoreCase } from './restore-fixture.js';

registerCase((ctx) => restoreCase(ctx, 'raw-restore', 'raw pg_restore --single-transaction', (f, dir) => f.raw(dir, ['--single-transaction'])));
