import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { referencePages, undescribedKeys } from '../../lib/cli/reference.js';
import { KIT_VARIABLES, NOT_SETTINGS } from '../../lib/config/variables.js';
import { REGISTRY } from '../../lib/commands/registry.js';

const root = path.resolve(import.meta.dirname, '../../..');
const read = (file: string) => {
  try {
    return readFileSync(path.join(root, file), 'utf8');
  } catch {
    return '(missing)';
  }
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'test' || entry.name === 'node_modules' ? [] : sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('the generated reference (docs/reference/)', () => {
  it.each(Object.entries(referencePages()))('%s is current', (file, text) => {
    // A stale page is fixed by regenerating it, never by hand.
    expect(read(file) === text, `${file} is not what the code says now: run pnpm docs:reference and commit the result`).toBe(true);
  });

  it('the command page has a section for every command people run, with its --help', () => {
    const page = referencePages()['docs/reference/commands.md']!;
    for (const r of REGISTRY.filter((x) => !x.tool)) {
      const title = r.scripts[0]?.name ?? r.entry;
      expect(page, title).toContain(`\n## ${title}\n`);
    }
    // the flags the README's hand-written reference had lost
    expect(page).toContain('--checkpoint');
    expect(page).toContain('--timeout');
  });

  it('every key of backup-kit.json is described in the schema', () => {
    expect(undescribedKeys()).toEqual([]);
  });

  it('every environment variable the sources read is documented, or listed as not a setting', () => {
    const documented = new Set([...KIT_VARIABLES.flatMap((v) => v.names), ...NOT_SETTINGS]);
    const read = new Set<string>();
    for (const file of sourceFiles(path.join(root, 'scripts'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\b(?:env|Env|processEnv|vars)(?:\.|\[')([A-Z][A-Z0-9_]{2,})\b/g)) read.add(m[1]!);
      for (const m of text.matchAll(/first\(vars, \[([^\]]+)\]\)/g)) for (const n of m[1]!.matchAll(/'([A-Z0-9_]+)'/g)) read.add(n[1]!);
    }
    expect(read.size).toBeGreaterThan(20);
    expect([...read].filter((name) => !documented.has(name)).sort()).toEqual([]);
  });
});
