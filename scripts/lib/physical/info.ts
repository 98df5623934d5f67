/**
 * The .info of a physical backup (its schema is format/physical-info.ts), and the restore hints
 * written into it.
 */
export type { Compression, PhysicalArtifact, PhysicalInfo, PhysicalRole } from '../format/physical-info.js';

export function physicalRestoreHints(id: string, environment: string): string[] {
  const env = environment === 'default' ? '' : ` --env ${environment}`;
  return [
    `pnpm db:restore:physical -- ${id} --target-dir <new data directory>${env}`,
    `pnpm db:restore:physical -- ${id} --time '<YYYY-MM-DD HH:MM:SS+00>' --target-dir <dir>${env}`,
  ];
}
