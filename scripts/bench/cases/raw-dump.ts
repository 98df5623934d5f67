import path from 'node:path';
import { registerCase } from '../registry.js';

registerCase((ctx) => ({
  id: 'raw-dump',
  label: 'raw pg_dump -Fc',
  run: async (dir) => {
    await ctx.tool('pg_dump', ['-Fc', '-f', path.join(dir, 'out.dump')]);
    return {};
  },
}));
