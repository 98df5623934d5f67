#!/usr/bin/env node
// Runs one of the kit's commands: `node scripts/kit.mjs pg-backup [args…]`.
//
// The commands are TypeScript. Running them through a TypeScript loader costs about half a
// second and 25 MB on every start, which matters for a tool measured against pg_dump itself.
// So each entry file is bundled once with esbuild and imported from the cache. For development,
// `pnpm tsx scripts/<command>.ts` runs the same entry files straight from source.
//
// - The bundle's name carries a hash of every source's content (and of this file, package.json
//   and tsconfig.json), so an edit, a checkout or a copy that keeps old modification times can
//   never run a stale bundle.
// - The cache is node_modules/.cache/pg-backup-kit; when that cannot be written (cron running as
//   another user than the one who installed), a private directory under the system's temporary
//   directory is used instead (created 0700 and checked to be this user's own before any of
//   its code is run).
// - A stack trace names the .ts file and line, not the bundle (the source map is read lazily).
import { createHash } from 'node:crypto';
import { SourceMap } from 'node:module';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const scripts = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(scripts);
// package.json runs `node scripts/kit.mjs -- <command>`: Node 20 reads --env-file itself anywhere
// on its command line (a missing file ends the run with its own message, exit 9) unless a "--"
// comes first, and the kit's own --env-file must reach the kit.
const argv = process.argv.slice(2);

// `node scripts/kit.mjs --standalone <file>`: one self-contained file (every package inlined) that
// runs what PostgreSQL's server runs: wal-push (archive_command) and wal-fetch (restore_command).
// The server's user then needs to read only that file, not this repository or its node_modules.
if (argv[0] === '--standalone') {
  if (!argv[1]) {
    process.stderr.write('usage: node scripts/kit.mjs --standalone <file.mjs>\n');
    process.exit(2);
  }
  await buildStandalone(path.resolve(argv[1]));
  process.stdout.write(`${path.resolve(argv[1])}: run it as node ${path.resolve(argv[1])} wal-push|wal-fetch …\n`);
  process.exit(0);
}

async function buildStandalone(outfile) {
  const { build: esbuild } = await import('esbuild');
  const partial = `${outfile}.${process.pid}.partial`;
  await esbuild({
    stdin: {
      contents: [
        'const [command] = process.argv.splice(2, 1);',
        "if (command === 'wal-push') await import('./wal-push.ts');",
        "else if (command === 'wal-fetch') await import('./wal-fetch.ts');",
        "else { process.stderr.write('usage: node <this file> wal-push|wal-fetch [args…]\\n'); process.exit(2); }",
      ].join('\n'),
      resolveDir: scripts,
      sourcefile: 'standalone.ts',
      loader: 'ts',
    },
    outfile: partial,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    // CommonJS packages call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as kitRequire } from 'node:module'; const require = kitRequire(import.meta.url);" },
    external: ['pg-native'],
  });
  chmodSync(partial, 0o644);
  renameSync(partial, outfile);
}

const [command, ...args] = argv[0] === '--' ? argv.slice(1) : argv;

if (!command || !/^[a-z][a-z0-9-]*$/.test(command)) {
  process.stderr.write('usage: node scripts/kit.mjs -- <command> [args…]\n');
  process.exit(2);
}

const entry = path.join(scripts, `${command}.ts`);
try {
  statSync(entry);
} catch {
  process.stderr.write(`kit: no such command: ${command} (scripts/${command}.ts)\n`);
  process.exit(2);
}

/** Every input of a bundle: the sources under scripts/ (tests aside), this file and the project files. */
function inputs() {
  const files = [];
  const walk = (dir) => {
    for (const item of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (item.name === 'test' || item.name === 'node_modules') continue;
      const full = path.join(dir, item.name);
      if (item.isDirectory()) walk(full);
      else if (item.name.endsWith('.ts')) files.push(full);
    }
  };
  walk(scripts);
  return [...files, fileURLToPath(import.meta.url), path.join(root, 'package.json'), path.join(root, 'tsconfig.json')];
}

/**
 * A hash of the inputs' names and contents. Reading every source on every start costs more than
 * the rest of the launcher, so the content hash is remembered under a key made of each file's
 * inode, size, mtime and ctime: any write to a file, and any copy of it, changes its ctime or
 * inode, so a remembered hash is only reused for exactly the files it was computed from.
 */
function sourceHash(files, memoDir) {
  const signature = createHash('sha256');
  for (const file of files) {
    let st;
    try {
      st = statSync(file);
    } catch {
      st = undefined;
    }
    signature.update(`${file}\0${st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : '-'}\n`);
  }
  const memo = path.join(memoDir, `sources-${signature.digest('hex').slice(0, 32)}`);
  try {
    const remembered = readFileSync(memo, 'utf8');
    if (/^[0-9a-f]{16}$/.test(remembered)) return remembered;
  } catch {
    // not remembered yet
  }
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(path.relative(root, file));
    hash.update('\0');
    try {
      hash.update(readFileSync(file));
    } catch {
      hash.update('(missing)');
    }
    hash.update('\0');
  }
  const digest = hash.digest('hex').slice(0, 16);
  try {
    writeFileSync(`${memo}.${process.pid}`, digest);
    renameSync(`${memo}.${process.pid}`, memo);
  } catch {
    // a cache we cannot write: the hash is simply computed again next time
  }
  return digest;
}

function writable(dir) {
  try {
    mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `.probe.${process.pid}`);
    mkdirSync(probe);
    rmSync(probe, { recursive: true });
    return true;
  } catch {
    return false;
  }
}

/** A directory only this user can write, for when the project's cache is not ours to write. */
function privateCache() {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const projectKey = createHash('sha256').update(root).digest('hex').slice(0, 12);
  const base = path.join(tmpdir(), `pg-backup-kit-${uid}`);
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const info = lstatSync(base);
  const ours = !info.isSymbolicLink() && info.isDirectory() && (typeof process.getuid !== 'function' || info.uid === process.getuid());
  if (!ours) throw new Error(`kit: ${base} is not a private directory of this user; remove it or set TMPDIR elsewhere`);
  if ((info.mode & 0o077) !== 0) chmodSync(base, 0o700);
  const dir = path.join(base, projectKey);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The bundle imports its packages by name; Node looks for them in a node_modules beside it.
  const modules = path.join(dir, 'node_modules');
  const wanted = path.join(root, 'node_modules');
  let current;
  try {
    current = readlinkSync(modules);
  } catch {
    current = undefined;
  }
  if (current !== wanted) {
    rmSync(modules, { recursive: true, force: true });
    symlinkSync(wanted, modules);
  }
  return dir;
}

async function build(bundle) {
  const { build: esbuild } = await import('esbuild');
  // Write under a private name and rename: parallel runs (tests, cron) never see half a bundle.
  const partial = `${bundle}.${process.pid}.partial`;
  await esbuild({
    entryPoints: [entry],
    outfile: partial,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  renameSync(partial, bundle);
  // Bundles of this command from older sources are dead weight now.
  const dir = path.dirname(bundle);
  const ofThisCommand = new RegExp(`^${command}-[0-9a-f]{16}\\.mjs$`);
  const dayAgo = Date.now() - 86_400_000;
  for (const file of readdirSync(dir)) {
    const full = path.join(dir, file);
    if (ofThisCommand.test(file) && full !== bundle) rmSync(full, { force: true });
    // remembered hashes of sources as they were more than a day ago are of no use any more
    else if (file.startsWith('sources-') && statSync(full).mtimeMs < dayAgo) rmSync(full, { force: true });
  }
}

function exists(file) {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * Stack traces that name the .ts file and line. Node's --enable-source-maps parses the bundle's
 * whole source map at every start (about 8 ms, for traces almost no run prints), so the map is
 * read only when a trace is first formatted, and only frames inside the bundle are rewritten.
 */
function mapStackTraces(bundleFile) {
  const bundleUrl = pathToFileURL(bundleFile).href;
  let map;
  const load = () => {
    if (map !== undefined) return map;
    map = null;
    try {
      const text = readFileSync(bundleFile, 'utf8');
      const match = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(text);
      if (match) map = new SourceMap(JSON.parse(Buffer.from(match[1], 'base64').toString('utf8')));
    } catch {
      map = null;
    }
    return map;
  };
  const original = (frame) => {
    const file = frame.getFileName();
    const line = frame.getLineNumber();
    const column = frame.getColumnNumber();
    const text = frame.toString();
    if (file !== bundleUrl || line === null || column === null || !load()) return text;
    const entry = map.findEntry(line - 1, column - 1);
    if (!entry || !entry.originalSource) return text;
    const source = entry.originalSource.startsWith('file:') ? fileURLToPath(entry.originalSource) : path.resolve(path.dirname(bundleFile), entry.originalSource);
    return text.replace(`${file}:${line}:${column}`, `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`);
  };
  Error.prepareStackTrace = (error, frames) => {
    let header;
    try {
      header = Error.prototype.toString.call(error);
    } catch {
      header = 'Error';
    }
    return [header, ...frames.map((frame) => `    at ${original(frame)}`)].join('\n');
  };
}

const projectCache = path.join(root, 'node_modules/.cache/pg-backup-kit');
const name = `${command}-${sourceHash(inputs(), projectCache)}.mjs`;
let bundle = path.join(projectCache, name);
if (!exists(bundle)) {
  if (!writable(projectCache)) {
    bundle = path.join(privateCache(), name);
  }
  if (!exists(bundle)) await build(bundle);
}

mapStackTraces(bundle);
process.argv = [process.argv[0], entry, ...args];
await import(pathToFileURL(bundle).href);
