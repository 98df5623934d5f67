/**
 * A kit killed outright (kill -9) leaves no child behind, whichever way the child was started:
 * the streaming primitive (pg_dump, psql), runProgram and runProgramWithInput (pg_basebackup, tar,
 * pg_ctl) and age. A real Node process starts one child of each kind, is killed with SIGKILL,
 * and every child must be gone.
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
import { startProcess } from ${JSON.stringify(path.join(LIB, 'process.ts'))};
import { runProgram, runProgramWithInput } from ${JSON.stringify(path.join(LIB, 'programs.ts'))};
import { spawnEncrypt } from ${JSON.stringify(path.join(LIB, 'age.ts'))};
const sleep = { name: 'sleep', path: '/usr/bin/sleep' };
const pids: number[] = [];
const streaming = startProcess('/usr/bin/sleep', ['300']);
streaming.done.catch(() => undefined);
pids.push(streaming.child.pid!);
void runProgram(sleep, ['301'], { failure: 'INTERNAL' }).catch(() => undefined);
void runProgramWithInput({ name: 'cat', path: '/usr/bin/cat' }, [], new PassThrough(), { failure: 'INTERNAL' }).catch(() => undefined);
${AGE ? `const age = spawnEncrypt(['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'], process.env); age.done.catch(() => undefined); age.output.resume();` : ''}
setTimeout(() => process.stdout.write('ready\\n'), 500);
setInterval(() => undefined, 1000);
`);
      const parent = spawn(TSX, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        parent.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
        parent.once('exit', () => reject(new Error('the parent exited before its children started')));
      });
      // the children: every process whose parent is the Node process tsx started
      const node = Number(readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(/\s+/).at(-1) ?? parent.pid);
      const kit = existsSync(`/proc/${node}/task/${node}/children`) ? node : parent.pid!;
      const children = readFileSync(`/proc/${kit}/task/${kit}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      const programs = children.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]);
      expect(programs.filter((p) => p !== undefined && /\/(sleep|cat|age)$/.test(p)).length).toBe(AGE ? 4 : 3);
      process.kill(kit, 'SIGKILL');
      await until('every child to end', () => children.every((pid) => !alive(pid)));
      parent.kill('SIGKILL');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
