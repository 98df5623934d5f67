/**
 * The manual shows the kit's real commands. For README.md and docs/*.md (docs/reference/ is
 * generated from the code and has a test of its own), every fenced code block is read, and every
 * line in it that runs the kit (`pnpm db…`, `pnpm demo`, `pnpm bench`, `node scripts/kit.mjs …`)
 * must:
 *
 * 1. name a script package.json has (or, for kit.mjs, an entry file scripts/<entry>.ts);
 * 2. show only flags that command's --help lists (its Command definition in
 *    scripts/lib/commands/, through usageText(); bench's USAGE for `pnpm bench`, DEMO_USAGE for
 *    `pnpm demo`);
 * 3. be exercised by a test, or sit in a block preceded by `<!-- untested: <reason> -->`.
 *
 * "Exercised" is decided by one of these rules, in order:
 * - verbatim: the command as written (from `pnpm`/`node` to the end of that command) appears in a
 *   test source;
 * - read by a test: the block is preceded by `<!-- tested-by: <test file> -->` and that test file
 *   names this chapter's path (it reads the chapter and runs the block's lines itself);
 * - same script and flags: one test case (the text of an `it(`/`test(` call up to the next one
 *   in the same file) names the command's entry as the harness takes it (`'pg-restore'`) or its
 *   script (`db:restore`), and names every flag the line shows, and every flag its package.json
 *   script adds (`db:backup:auto` adds `--type` and `--quiet`). Values and positional arguments
 *   are not compared: a flag that no test case gives that command fails the line. One
 *   allowance: `--env <name>` only says which database, so a test case that names its database
 *   another way (`--env-file`, `--url`, `DATABASE_URL`) matches it. A test case's text includes
 *   its file's beforeAll/beforeEach hooks and the helpers it calls (`function exportOf(` or
 *   `const exportOf = (`) of the same file or of scripts/test/support/, up to three calls deep,
 *   since tests run the kit through them.
 *
 * Every `pnpm <name>` in a block that is neither pnpm's own command nor a program in
 * node_modules/.bin must be a package.json script, and every relative link in these files must
 * point at an existing file, and its `#anchor`, if any, at a heading there (GitHub's slugs). Links into docs/reference/ may point at nothing only while that
 * directory does not exist (its generator lands separately); once it exists, they must resolve.
 * Every path of the repository the prose names in code (`scripts/lib/store/store.ts`) must exist,
 * so a file moved by a refactor cannot leave the manual pointing at nothing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { usageText, type Command, type CommonArgs } from '../../lib/cli/run.js';
import { USAGE as BENCH_USAGE } from '../../bench/options.js';
import { DEMO_USAGE } from '../../demo/options.js';

const REPO = path.resolve(import.meta.dirname, '../../..');
const DOCS = path.join(REPO, 'docs');
const REFERENCE = path.join(DOCS, 'reference');
const REFERENCE_FILES = ['commands.md', 'configuration.md', 'exit-codes.md'];
const UNTESTED = /<!--\s*untested:\s*(\S[^>]*?)\s*-->/;
const TESTED_BY = /<!--\s*tested-by:\s*(\S+)\s*-->/;
const PNPM_OWN = new Set(['install', 'i', 'add', 'remove', 'update', 'exec', 'dlx', 'run', 'approve-builds', 'store', 'why', 'list', 'ls', 'outdated', 'audit', 'rebuild', 'prune', 'config', 'setup', 'env', 'init', 'import', 'link', 'unlink', 'patch', 'publish', 'pack', 'deploy', 'fetch', 'licenses', 'root', 'bin', 'start', 'help', '--filter', '-C', '--dir', '-r', '--recursive', '-w']);

const docFiles = (): string[] => [
  path.join(REPO, 'README.md'),
  ...readdirSync(DOCS).filter((f) => f.endsWith('.md')).sort().map((f) => path.join(DOCS, f)),
];
const rel = (file: string) => path.relative(REPO, file);

interface Block {
  file: string;
  line: number;
  lines: string[];
  /** The non-blank line just before the opening fence. */
  before: string;
}

/** Every fenced code block of a Markdown file, fences indented inside list items included. */
function codeBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  let open: { fence: string; block: Block } | undefined;
  let lastText = '';
  lines.forEach((raw, i) => {
    const fence = /^\s*(`{3,}|~{3,})/.exec(raw);
    if (open) {
      if (fence && fence[1]!.startsWith(open.fence) && raw.trim() === fence[1]) {
        blocks.push(open.block);
        open = undefined;
      } else open.block.lines.push(raw);
      return;
    }
    if (fence) open = { fence: fence[1]!, block: { file, line: i + 1, lines: [], before: lastText } };
    else if (raw.trim()) lastText = raw.trim();
  });
  if (open) throw new Error(`${rel(file)}:${open.block.line}: a code block that never closes`);
  return blocks;
}

interface KitLine {
  block: Block;
  /** The command as written, from `pnpm`/`node` to the end of that command. */
  text: string;
  /** `db:restore`, `demo`, `bench`, or `kit.mjs <entry>` for a line that runs the launcher. */
  script: string;
  flags: string[];
}

/**
 * A line with its quoted strings blanked out (same length, so positions still match the line),
 * so a `--` or `#` inside SQL or a description is no flag and no comment.
 */
const unquoted = (s: string) => s.replace(/'[^']*'|"[^"]*"/g, (q) => `${q[0]}${'_'.repeat(q.length - 2)}${q[0]}`);

/** The shell commands on one line: split at &&, ||, | and ;, a trailing # comment dropped. */
function commandsOf(line: string): string[] {
  const bare = unquoted(line);
  const comment = /(^|\s)#/.exec(bare);
  const cut = comment ? line.slice(0, comment.index + comment[1]!.length) : line;
  const parts: string[] = [];
  let start = 0;
  const kept = unquoted(cut);
  for (const m of kept.matchAll(/&&|\|\||[|;]/g)) {
    parts.push(cut.slice(start, m.index));
    start = m.index! + m[0].length;
  }
  parts.push(cut.slice(start));
  return parts.map((p) => p.trim()).filter(Boolean);
}

const flagsIn = (text: string) => [...new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]))];
/** The flags a command line shows (not inside its quoted arguments). */
const flagsOf = (text: string) => flagsIn(unquoted(text));

/** The lines of a block that run the kit, continuation lines joined. */
function kitLines(block: Block): KitLine[] {
  const joined = block.lines.join('\n').replace(/\\\n\s*/g, ' ').split('\n');
  const found: KitLine[] = [];
  for (const line of joined) {
    for (const command of commandsOf(line)) {
      const pnpm = /(?:^|\s)(pnpm\s+(?:-s\s+)?(db(?::[\w:-]+)?|demo|bench)(?![\w:-])(.*))$/.exec(command);
      const node = /(?:^|\s)(node\s+scripts\/kit\.mjs\s+(?:--\s+)?([\w-]+)(.*))$/.exec(command);
      if (pnpm) found.push({ block, text: pnpm[1]!.trim(), script: pnpm[2]!, flags: flagsOf(pnpm[3]!) });
      else if (node) found.push({ block, text: node[1]!.trim(), script: `kit.mjs ${node[2]}`, flags: flagsOf(node[3]!) });
    }
  }
  return found;
}

/** Every `pnpm <name>` in a block, for the package.json check. */
function pnpmNames(block: Block): Array<{ name: string; text: string }> {
  const out: Array<{ name: string; text: string }> = [];
  for (const line of block.lines) {
    for (const command of commandsOf(line)) {
      const m = /(?:^|\s)pnpm\s+(?:-s\s+|--silent\s+)?([^\s'"]+)/.exec(command);
      if (m && !m[1]!.startsWith('<')) out.push({ name: m[1]!, text: command });
    }
  }
  return out;
}

interface Entry {
  entry: string;
  /** Flags the package.json script adds itself. */
  implied: string[];
}

const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

/** The kit entry a script runs (`node scripts/kit.mjs -- pg-backup --type auto`), or undefined. */
function entryOf(script: string): Entry | undefined {
  if (script.startsWith('kit.mjs ')) return { entry: script.slice('kit.mjs '.length), implied: [] };
  const m = /^node scripts\/kit\.mjs -- ([\w-]+)(.*)$/.exec(pkg.scripts[script] ?? '');
  return m ? { entry: m[1]!, implied: flagsOf(m[2]!) } : undefined;
}

/** The flags an entry's --help lists: its Command's usage text (bench: its USAGE). */
async function helpFlags(entry: string): Promise<Set<string> | undefined> {
  if (entry === 'bench') return new Set(flagsIn(BENCH_USAGE));
  if (entry === 'demo') return new Set(flagsIn(DEMO_USAGE));
  if (entry === '--standalone') return new Set();
  const file = path.join(REPO, 'scripts', `${entry}.ts`);
  if (!existsSync(file)) return undefined;
  const source = readFileSync(file, 'utf8');
  const run = /runCli\((\w+)[,)]/.exec(source);
  if (!run) return new Set(); // the menu takes no flags
  const from = new RegExp(`import \\{[^}]*\\b${run[1]}\\b[^}]*\\} from '\\./(lib/commands/[\\w-]+)\\.js'`).exec(source);
  if (!from) throw new Error(`scripts/${entry}.ts: cannot tell where ${run[1]} comes from`);
  const module = (await import(path.join(REPO, 'scripts', `${from[1]}.ts`))) as Record<string, Command<CommonArgs, unknown>>;
  return new Set(flagsIn(usageText(module[run[1]!]!)));
}

interface TestSource {
  file: string;
  text: string;
  cases: string[];
}

/**
 * A file's helper functions by name and its setup hooks (beforeAll, beforeEach), each with its
 * text up to the next definition, hook or test.
 */
function helpersOf(text: string): { helpers: Map<string, string>; hooks: string[] } {
  const marks = [...text.matchAll(/^(?:export )?(?:async )?function (\w+)|^(?:export )?const (\w+) = (?:async )?(?:\([^)]*\)|\w+)(?:: [^=]+)? =>|^\s*(before(?:All|Each))\(|^\s*(?:describe|it|test|after(?:All|Each))\(/gm)];
  const helpers = new Map<string, string>();
  const hooks: string[] = [];
  marks.forEach((m, i) => {
    const body = text.slice(m.index, marks[i + 1]?.index ?? text.length);
    const name = m[1] ?? m[2];
    if (name) helpers.set(name, body);
    else if (m[3]) hooks.push(body);
  });
  return { helpers, hooks };
}

/** A test case's text with its file's setup hooks and the helpers it calls, up to three levels deep. */
function withHelpers(text: string, helpers: Map<string, string>): string {
  let all = text;
  const added = new Set<string>();
  for (let depth = 0; depth < 3; depth++) {
    const more = [...helpers].filter(([name]) => !added.has(name) && new RegExp(`(?<![\\w.])${name}\\(`).test(all));
    for (const [name, body] of more) {
      added.add(name);
      all += `\n${body}`;
    }
  }
  return all;
}

function testSources(): TestSource[] {
  const root = path.join(REPO, 'scripts/test');
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.(ts|mjs|cjs|js)$/.test(name) && full !== import.meta.filename) files.push(full);
    }
  };
  walk(root);
  const support = new Map(files.filter((f) => f.includes(`${path.sep}support${path.sep}`)).flatMap((f) => [...helpersOf(readFileSync(f, 'utf8')).helpers]));
  return files.map((file) => {
    const text = readFileSync(file, 'utf8');
    const starts = [...text.matchAll(/(?<![\w.])(?:it|test)(?:\.each\([^)]*\))?\(/g)].map((m) => m.index!);
    const cases = starts.map((s, i) => text.slice(s, starts[i + 1] ?? text.length));
    const own = helpersOf(text);
    const helpers = new Map([...support, ...own.helpers]);
    return { file, text, cases: cases.map((c) => withHelpers([...own.hooks, c].join('\n'), helpers)) };
  });
}

/** What a test case may show for a flag the manual shows. */
const SAME_ROLE: Record<string, string[]> = { '--env': ['--env', '--env-file', '--url', 'DATABASE_URL'] };

const named = (text: string, word: string) => new RegExp(`(?<![\\w:-])${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-]|:\\w)`).test(text);

/** Why a kit line counts as exercised, or undefined. */
function exercisedBy(line: KitLine, sources: TestSource[]): string | undefined {
  const verbatim = sources.find((s) => s.text.includes(line.text));
  if (verbatim) return `verbatim in ${rel(verbatim.file)}`;
  const by = TESTED_BY.exec(line.block.before);
  if (by) {
    const reader = sources.find((s) => rel(s.file) === by[1]);
    if (reader && reader.text.includes(rel(line.block.file))) return `read and run by ${by[1]}`;
  }
  const entry = entryOf(line.script);
  if (!entry) return undefined;
  const names = line.script.startsWith('kit.mjs') ? [`'${entry.entry}'`] : [`'${entry.entry}'`, line.script];
  const flags = [...new Set([...line.flags, ...entry.implied])];
  for (const source of sources) {
    const hit = source.cases.find((c) => names.some((n) => (n.startsWith("'") ? c.includes(n) : named(c, n))) && flags.every((f) => (SAME_ROLE[f] ?? [f]).some((g) => named(c, g))));
    if (hit) return `same script and flags in ${rel(source.file)}`;
  }
  return undefined;
}

/** The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as -. */
function anchorsOf(markdown: string): Set<string> {
  const text = markdown.replace(/^\s*(`{3,})[\s\S]*?^\s*\1\s*$/gm, '');
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n ? `${base}-${n}` : base);
  }
  return anchors;
}

describe('the manual', () => {
  const blocks = docFiles().flatMap((file) => codeBlocks(file, readFileSync(file, 'utf8')));
  const lines = blocks.flatMap(kitLines);
  const where = (l: KitLine) => `${rel(l.block.file)}:${l.block.line}: ${l.text}`;
  let sources: TestSource[] = [];
  beforeAll(() => {
    sources = testSources();
  });

  it('finds the kit commands it checks (the extraction itself works)', () => {
    expect(lines.length).toBeGreaterThan(40);
    const sample = kitLines({ file: 'x', line: 1, before: '', lines: ["0 2 * * *  cd /srv/app && pnpm -s db:backup:auto && pnpm -s db:retention --quiet   # nightly", 'X=1 pnpm db:sql -- "SELECT 1 -- --not-a-flag" --csv out.csv', 'node scripts/kit.mjs -- verify \\', '  --latest'] });
    expect(sample.map((l) => [l.script, l.flags])).toEqual([['db:backup:auto', []], ['db:retention', ['--quiet']], ['db:sql', ['--csv']], ['kit.mjs verify', ['--latest']]]);
  });

  it('every pnpm script a block runs is in package.json', () => {
    const bins = new Set(existsSync(path.join(REPO, 'node_modules/.bin')) ? readdirSync(path.join(REPO, 'node_modules/.bin')) : []);
    const missing = blocks.flatMap((b) => pnpmNames(b).filter((p) => !PNPM_OWN.has(p.name) && !bins.has(p.name) && !(p.name in pkg.scripts)).map((p) => `${rel(b.file)}:${b.line}: ${p.text}`));
    expect(missing).toEqual([]);
  });

  it('every flag a kit command shows is one its --help lists', async () => {
    const wrong: string[] = [];
    for (const line of lines) {
      const entry = entryOf(line.script);
      if (!entry) {
        if (!(line.script in pkg.scripts)) wrong.push(`${where(line)}: no such script or entry`);
        continue;
      }
      const known = await helpFlags(entry.entry);
      if (!known) wrong.push(`${where(line)}: no entry scripts/${entry.entry}.ts`);
      else for (const f of line.flags.filter((f) => !known.has(f))) wrong.push(`${where(line)}: ${f} is not in ${entry.entry} --help`);
    }
    expect(wrong).toEqual([]);
  });

  it('every kit command in a block is exercised by a test, or its block says why not', () => {
    const uncovered = lines.filter((l) => !UNTESTED.test(l.block.before) && !exercisedBy(l, sources)).map(where);
    expect(uncovered).toEqual([]);
  });

  it('the matching rule can fail: a flag no test gives a command is not covered', () => {
    const block: Block = { file: path.join(DOCS, 'x.md'), line: 1, before: '', lines: ['pnpm db:restore -- --latest --no-such-flag-anywhere'] };
    expect(exercisedBy(kitLines(block)[0]!, sources)).toBeUndefined();
    expect(exercisedBy(kitLines({ ...block, lines: ['pnpm db:restore -- --latest --force'] })[0]!, sources)).toMatch(/same script and flags/);
  });

  it('every relative link points at an existing file, and at a heading there', () => {
    const referenceExists = existsSync(REFERENCE);
    const broken: string[] = [];
    for (const file of docFiles()) {
      const text = readFileSync(file, 'utf8').replace(/^\s*(`{3,})[\s\S]*?^\s*\1\s*$/gm, '').replace(/`[^`\n]*`/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const [target = '', anchor] = m[1]!.split('#');
        if (/^[a-z]+:/i.test(target)) continue;
        const resolved = target ? path.resolve(path.dirname(file), decodeURIComponent(target)) : file;
        if (existsSync(resolved)) {
          if (anchor && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) broken.push(`${rel(file)}: ${m[1]} (no such heading)`);
          continue;
        }
        const pending = !referenceExists && path.dirname(resolved) === REFERENCE && REFERENCE_FILES.includes(path.basename(resolved));
        if (!pending) broken.push(`${rel(file)}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('every path of the repository the prose names (`scripts/…`, `.github/…`, `.ci/…`) exists', () => {
    const missing: string[] = [];
    for (const file of docFiles()) {
      for (const m of readFileSync(file, 'utf8').matchAll(/`((?:scripts|\.github|\.ci)\/[^`\s]+)`/g)) {
        if (/[<*{…]/.test(m[1]!)) continue; // a pattern, not a path
        if (!existsSync(path.join(REPO, m[1]!.replace(/[.,:;]$/, '')))) missing.push(`${rel(file)}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('README.md stays short and states the test command CI runs', () => {
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(15 * 1024);
    expect(readme).toMatch(/^pnpm test\b/m);
    expect(readFileSync(path.join(REPO, '.ci/run'), 'utf8')).toMatch(/^pnpm test$/m);
  });
});
