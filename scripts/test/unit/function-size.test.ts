import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Decisions belong in small, named functions and tables (see docs/10-how-it-works.md, "Layout and layers"):
 * no function, method or arrow function in scripts/lib runs past MAX_LINES. A function that
 * grows past it is split where its steps are, not exempted here.
 */
const MAX_LINES = 85;
const lib = path.resolve(import.meta.dirname, '../../lib');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every function-like node with a body, and the lines it spans (from its first token to its end). */
function functionSpans(file: string, text: string): Array<{ where: string; lines: number }> {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const spans: Array<{ where: string; lines: number }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.end).line;
      const named = 'name' in node && node.name ? node.name : ts.isVariableDeclaration(node.parent) ? node.parent.name : undefined;
      const name = named ? named.getText(source) : '(anonymous)';
      spans.push({ where: `${path.relative(lib, file)}:${first + 1} ${name}`, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return spans;
}

describe('function size', () => {
  it('measures what it claims: a long function is found, a short one is not', () => {
    const long = `function big() {\n${'  step();\n'.repeat(MAX_LINES)}}\nconst small = () => 1;\n`;
    const spans = functionSpans(path.join(lib, 'x.ts'), long);
    expect(spans).toEqual([
      { where: 'x.ts:1 big', lines: MAX_LINES + 2 },
      { where: `x.ts:${MAX_LINES + 3} small`, lines: 1 },
    ]);
  });

  it(`no function in scripts/lib is longer than ${MAX_LINES} lines`, () => {
    const files = sources(lib);
    expect(files.length).toBeGreaterThan(50);
    const tooLong = files.flatMap((file) => functionSpans(file, readFileSync(file, 'utf8'))).filter((s) => s.lines > MAX_LINES);
    expect(tooLong).toEqual([]);
  });
});
