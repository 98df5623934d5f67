import { registerCase } from '../registry.js';
import { restoreCase } from './restore-fixture.js';

// Like for like with raw -j 2, which analyzes nothing (see kit-restore.ts).
registerCase((ctx) =>
  restoreCase(ctx, 'kit-restore-j2', 'kit restore --jobs 2 --no-analyze (swap)', (f, dir) => f.kit(dir, ['--jobs', '2', '--no-analyze']), {
    label: 'kit restore --jobs 2 --no-analyze / raw -j 2',
    against: 'raw-restore-j2',
    max: 1.1,
  }),
);
