import { registerCase } from '../registry.js';

registerCase((ctx) => ({
  id: 'kit-dump',
  label: 'kit --format dump',
  run: (dir) => ctx.kit(dir, ['pg-backup', '--format', 'dump', '--skip-space-check']),
  target: { label: 'kit dump / raw pg_dump -Fc', against: 'raw-dump', max: 1.05 },
}));
