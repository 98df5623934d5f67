import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layers of DESIGN.md, checked on every import in scripts/lib: a module may import from its
 * own layer or below, never above. A folder not listed here fails the test until it is placed.
 */
const LAYERS: Record<string, number> = {
  'errors.ts': 0,
  'redact.ts': 0,
  'context.ts': 1,
  config: 1,
  proc: 1,
  format: 1,
  text: 1,
  crypto: 1,
  store: 2,
  engines: 2,
  backup: 3,
  restore: 3,
  verify: 3,
  retention: 3,
  drop: 3,
  sync: 3,
  offsite: 3,
  migrate: 3,
  deps: 3,
  export: 3,
  physical: 3,
  sql: 3,
  cli: 4,
  commands: 4,
};

const lib = path.resolve(import.meta.dirname, '../../lib');

function layerOf(file: string): number | undefined {
  const first = path.relative(lib, file).split(path.sep)[0]!;
  return LAYERS[first];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

const files = sourceFiles(lib);

describe('layers', () => {
  it.each(files.map((file) => [path.relative(lib, file), file]))('%s has a layer and imports nothing above it', (_name, file) => {
    const own = layerOf(file);
    expect(own, `${path.relative(lib, file)} sits in a folder with no layer; add it to LAYERS`).toBeTypeOf('number');
    const text = readFileSync(file, 'utf8');
    const upward: string[] = [];
    for (const match of text.matchAll(/(?:from\s+|import\()['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = path.resolve(path.dirname(file), match[1]!.replace(/\.js$/, '.ts'));
      if (!target.startsWith(lib + path.sep)) continue;
      const theirs = layerOf(target);
      if (theirs === undefined || theirs > own!) upward.push(`${match[1]} (layer ${theirs})`);
    }
    expect(upward, `layer ${own} imports upward`).toEqual([]);
  });

  it('would catch an upward import (the check can fail)', () => {
    expect(layerOf(path.join(lib, 'store/catalog.ts'))).toBe(2);
    expect(layerOf(path.join(lib, 'commands/backup.ts'))).toBeGreaterThan(layerOf(path.join(lib, 'backup/backup.ts'))!);
  });
});
