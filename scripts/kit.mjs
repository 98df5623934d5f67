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
// - Source maps are on, so a stack trace names the .ts file and line, not the bundle.
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const scripts = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(scripts);
const [command, ...args] = process.argv.slice(2);

if (!command || !/^[a-z][a-z0-9-]*$/.test(command)) {
  process.stderr.write('usage: node scripts/kit.mjs <command> [args…]\n');
  process.exit(2);
}

const entry = path.join(scripts, `${command}.ts`);
try {
  statSync(entry);
} catch {
  process.stderr.write(`kit: no such command: ${command} (scripts/${command}.ts)\n`);
  process.exit(2);
}

/** Every input of a bundle, hashed by content: names and bytes of the sources, in a fixed order. */
function sourceHash() {
  const hash = createHash('sha256');
  const add = (file) => {
    hash.update(path.relative(root, file));
    hash.update('\0');
    try {
      hash.update(readFileSync(file));
    } catch {
      hash.update('(missing)');
    }
    hash.update('\0');
  };
  const walk = (dir) => {
    for (const item of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (item.name === 'test' || item.name === 'node_modules') continue;
      const full = path.join(dir, item.name);
      if (item.isDirectory()) walk(full);
      else if (item.name.endsWith('.ts')) add(full);
    }
  };
  walk(scripts);
  for (const file of [fileURLToPath(import.meta.url), path.join(root, 'package.json'), path.join(root, 'tsconfig.json')]) add(file);
  return hash.digest('hex').slice(0, 16);
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
  for (const file of readdirSync(dir)) {
    if (ofThisCommand.test(file) && path.join(dir, file) !== bundle) rmSync(path.join(dir, file), { force: true });
  }
}

function exists(file) {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

const name = `${command}-${sourceHash()}.mjs`;
const projectCache = path.join(root, 'node_modules/.cache/pg-backup-kit');
let bundle = path.join(projectCache, name);
if (!exists(bundle)) {
  if (!writable(projectCache)) {
    bundle = path.join(privateCache(), name);
  }
  if (!exists(bundle)) await build(bundle);
}

process.setSourceMapsEnabled(true);
process.argv = [process.argv[0], entry, ...args];
await import(pathToFileURL(bundle).href);
