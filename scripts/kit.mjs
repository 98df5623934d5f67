#!/usr/bin/env node
// Runs one of the kit's commands: `node scripts/kit.mjs pg-backup [args…]`.
//
// The commands are TypeScript. Running them through a TypeScript loader costs about half a
// second and 25 MB on every start, which matters for a tool measured against pg_dump itself.
// So each entry file is bundled once with esbuild into node_modules/.cache and imported from
// there; the bundle is rebuilt whenever a source file is newer than it.
import { mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
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
const cacheDir = path.join(root, 'node_modules/.cache/pg-backup-kit');
const bundle = path.join(cacheDir, `${command}.mjs`);

function newestSource(dir, newest = 0) {
  for (const item of readdirSync(dir, { withFileTypes: true })) {
    if (item.name === 'test' || item.name === 'node_modules') continue;
    const full = path.join(dir, item.name);
    if (item.isDirectory()) newest = newestSource(full, newest);
    else if (item.name.endsWith('.ts') || item.name === 'package.json') newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

if (mtime(entry) < 0) {
  process.stderr.write(`kit: no such command: ${command} (scripts/${command}.ts)\n`);
  process.exit(2);
}

const sourcesChanged = Math.max(newestSource(scripts), mtime(path.join(root, 'package.json')));
if (mtime(bundle) < sourcesChanged) {
  const { build } = await import('esbuild');
  mkdirSync(cacheDir, { recursive: true });
  // Write under a private name and rename: parallel runs (tests, cron) never see half a bundle.
  const partial = `${bundle}.${process.pid}.partial`;
  await build({
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
}

process.argv = [process.argv[0], entry, ...args];
await import(pathToFileURL(bundle).href);
