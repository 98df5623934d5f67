/**
 * Run a command line the kit printed for a person ("pnpm db:restore -- … --force"), word for word
 * as a POSIX shell would split it, through the same launcher its package.json script uses.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cli, REPO, type CliOptions, type CliResult } from './harness.js';

/** Split as sh does for the quoting the kit prints: plain words and '…' with '\'' inside. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let current: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unbalanced quote in: ${line}`);
      current = (current ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      current = (current ?? '') + line[++i]!;
    } else if (c === ' ') {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else {
      current = (current ?? '') + c;
    }
  }
  if (current !== undefined) words.push(current);
  return words;
}

export function runPrinted(line: string, options: CliOptions): Promise<CliResult> {
  const [pnpm, script, dashes, ...args] = shellWords(line);
  const scripts = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const body = scripts[script ?? ''];
  const launched = body ? /^node scripts\/kit\.mjs -- (\S+)(.*)$/.exec(body) : null;
  if (pnpm !== 'pnpm' || dashes !== '--' || !launched) throw new Error(`not a printed kit command: ${line}`);
  return cli(launched[1]!, [...shellWords(launched[2]!.trim()), ...args], options);
}
