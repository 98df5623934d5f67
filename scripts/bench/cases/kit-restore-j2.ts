import { registerCase } from '../registry.js';
import { restoreCase } from './restore-fixture.js';

registerCase((ctx) =>
  restoreCase(ctx, 'kit-restore-j2', 'kit restore --jobs 2 (swap)', (f, dir) => f.kit(dir, ['--jobs', '2']), {
    label: 'kit restore --jobs 2 / raw -j 2',
    against: 'raw-restore-j2',
    max: 1.1,
  }),
);
