import { registerCase } from '../registry.js';
import { restoreCase } from './restore-fixture.js';

// What the kit's default restore delivers, done with the raw tools: the load, then the planner
// statistics the first queries need.
registerCase((ctx) =>
  restoreCase(ctx, 'raw-restore-analyze', 'raw pg_restore --single-transaction, then ANALYZE', async (f, dir) => {
    await f.raw(dir, ['--single-transaction']);
    await f.analyze(dir);
    return {};
  }),
);
