/**
 * A kit killed outright (kill -9) leaves no child behind, whichever entry point started it: the
 * streaming primitive (pg_dump, psql), captureProcess (probes), runToExit (the migration command,
 * the menu), runProgram and runProgramWithInput (pg_basebackup, tar, pg_ctl) and age. A real Node
 * process starts one stand-in child of each kind, is killed with SIGKILL, and every descendant
 * must be gone, including a helper that a runProgram child forks (as pg_basebackup forks its WAL
 * streamer), what the migration command's shell starts, and the watchdog that stops such groups. The same with the real programs against real
 * servers: scripts/test/integration/children-die.test.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = path.resolve(import.meta.dirname, '../../lib/proc');
const TSX = path.resolve(import.meta.dirname, '../../../node_modules/.bin/tsx');
const AGE = ['/usr/bin/age', '/usr/local/bin/age'].find((p) => existsSync(p));

function alive(pid: number): boolean {
  try {
    // a zombie is dead for our purpose: it holds nothing
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendantsOf(child)]);
}

/** "sleep 300": the program's file name and its arguments. */
function commandOf(pid: number): string {
  try {
    const [file = '', ...args] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return [file.startsWith('/bin/sh') ? file : path.basename(file), ...args].join(' ');
  } catch {
    return '';
  }
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

describe('children die with the kit', () => {
  it('no child of any kind survives a SIGKILL of the kit', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-children-'));
    try {
      const script = path.join(dir, 'parent.mts');
      writeFileSync(script, `
import { PassThrough } from 'node:stream';
import { captureProcess, runToExit, startProcess } from ${JSON.stringify(path.join(LIB, 'process.ts'))};
import { runProgram, runProgramWithInput } from ${JSON.stringify(path.join(LIB, 'programs.ts'))};
import { spawnEncrypt } from ${JSON.stringify(path.join(LIB, 'age.ts'))};
const sleep = { name: 'sleep', path: '/usr/bin/sleep' };
const pids: number[] = [];
const streaming = startProcess('/usr/bin/sleep', ['300']);
streaming.done.catch(() => undefined);
pids.push(streaming.child.pid!);
void runProgram(sleep, ['301'], { failure: 'INTERNAL' }).catch(() => undefined);
void runProgramWithInput({ name: 'cat', path: '/usr/bin/cat' }, [], new PassThrough(), { failure: 'INTERNAL' }).catch(() => undefined);
void captureProcess('/usr/bin/sleep', ['302']).catch(() => undefined);
void runToExit('/usr/bin/sleep', ['303']).catch(() => undefined);
// a program that forks a helper of its own, as pg_basebackup does
void runProgram({ name: 'sh', path: '/bin/sh' }, ['-c', 'sleep 304 & wait'], { failure: 'INTERNAL' }).catch(() => undefined);
// the user's migration command, as migrate/safe.ts starts it: sh -c, whose children are its own
void runToExit('/bin/sh', ['-c', 'sleep 305 & wait'], { stdio: ['ignore', 'ignore', 'ignore'], ownGroup: true }).catch(() => undefined);
${AGE ? `const age = spawnEncrypt(['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'], process.env); age.done.catch(() => undefined); age.output.resume();` : ''}
setTimeout(() => process.stdout.write('ready\\n'), 500);
setInterval(() => undefined, 1000);
`);
      const parent = spawn(TSX, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        parent.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
        parent.once('exit', () => reject(new Error('the parent exited before its children started')));
      });
      // the kit: the Node process tsx started (or tsx itself, when it runs the script in-process)
      const node = Number(readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(/\s+/).at(-1) ?? parent.pid);
      const kit = existsSync(`/proc/${node}/task/${node}/children`) ? node : parent.pid!;
      const expected = ['sleep 300', 'sleep 301', 'sleep 302', 'sleep 303', 'sleep 304', 'sleep 305', 'cat', ...(AGE ? ['age'] : [])];
      const running = () => descendantsOf(kit).map((pid) => ({ pid, argv: commandOf(pid) }));
      await until('every child to run its program', () => expected.every((e) => running().some((r) => r.argv === e || r.argv.startsWith(`${e} `))));
      const everyone = running();
      // the watchdog shell is there too, and must end with the rest
      expect(everyone.some((r) => r.argv.startsWith('/bin/sh -c groups='))).toBe(true);
      process.kill(kit, 'SIGKILL');
      await until('every descendant to end', () => everyone.every(({ pid }) => !alive(pid)));
      parent.kill('SIGKILL');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
