import { registerCase } from '../registry.js';

registerCase((ctx) => ({
  id: 'kit-all',
  label: 'kit, all four formats',
  run: (dir) => ctx.kit(dir, ['pg-backup', '--skip-space-check']),
  target: { label: 'kit all four / naive sequential', against: 'naive-all', max: 0.75 },
}));
