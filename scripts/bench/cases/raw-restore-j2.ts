import { registerCase } from '../registry.js';
import { restoreCase } from './restore-fixture.js';

registerCase((ctx) => restoreCase(ctx, 'raw-restore-j2', 'raw pg_restore -j 2', (f, dir) => f.raw(dir, ['--jobs=2'])));
