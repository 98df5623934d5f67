/**
 * The one process primitive, with real children (sh, cat, sleep): how it stops a child, how much
 * stderr it keeps, how it feeds stdin, and what its typed failure carries.
 */
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { KitError } from '../../lib/errors.js';
import { registerSecret } from '../../lib/redact.js';
import { captureProcess, ProcessFailure, runToExit, startProcess, StderrTail } from '../../lib/proc/process.js';
import { runProgram, runProgramWithInput } from '../../lib/proc/programs.js';

const SH = '/bin/sh';

async function failureOf(promise: Promise<unknown>): Promise<ProcessFailure> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ProcessFailure);
  return error as ProcessFailure;
}

describe('startProcess', () => {
  it('fails with a typed error: program, masked arguments, status and the tail of stderr', async () => {
    registerSecret('hunter2-secret');
    const running = startProcess(SH, ['-c', 'echo "could not connect" >&2; exit 3', 'postgresql://u:hunter2-secret@h/db'], { failure: 'PG_DUMP_FAILED', name: 'the dump' });
    const failure = await failureOf(running.done);
    expect(failure).toBeInstanceOf(KitError);
    expect(failure.code).toBe('PG_DUMP_FAILED');
    expect(failure.message).toBe('the dump exited with status 3: could not connect');
    expect(failure).toMatchObject({ program: 'the dump', file: SH, reason: 'failed', status: 3, signal: null, stderrTail: 'could not connect', detail: 'could not connect' });
    expect(failure.args.join(' ')).not.toContain('hunter2-secret');
    expect(failure.args[2]).toBe('postgresql://u:***@h/db');
  });

  it('names a program that cannot start with the code the caller chose', async () => {
    const failure = await failureOf(startProcess('/nonexistent/pg_dump', [], { missing: 'PG_TOOL_MISSING' }).done);
    expect(failure).toMatchObject({ code: 'PG_TOOL_MISSING', reason: 'missing', status: null });
    expect(failure.message).toMatch(/^Could not start \/nonexistent\/pg_dump: /);
  });

  it('an abort sends SIGTERM, then SIGKILL to a child that ignores it, and done waits for the exit', async () => {
    const controller = new AbortController();
    // The shell ignores SIGTERM and says when it is ready to be stopped.
    const running = startProcess(SH, ['-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done'], { signal: controller.signal, graceMs: 300 });
    await new Promise((resolve) => running.child.stdout!.once('data', resolve));
    const started = Date.now();
    controller.abort();
    const failure = await failureOf(running.done);
    expect(failure).toMatchObject({ code: 'INTERRUPTED', reason: 'interrupted', signal: 'SIGKILL' });
    expect(failure.message).toBe('sh was stopped: the run was interrupted.');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(running.child.signalCode).toBe('SIGKILL');
  });

  it('a child that obeys SIGTERM is not killed harder', async () => {
    const controller = new AbortController();
    const running = startProcess('/usr/bin/sleep', ['30'], { signal: controller.signal, graceMs: 5_000 });
    controller.abort();
    const failure = await failureOf(running.done);
    expect(failure.signal).toBe('SIGTERM');
  });

  it('keeps a bounded tail of stderr, in bytes, from a child that prints megabytes', async () => {
    const running = startProcess(SH, ['-c', 'head -c 3000000 /dev/zero | tr "\\0" x >&2; echo >&2; echo "FATAL: the last words" >&2; exit 1'], { stderrLimit: 4096 });
    const failure = await failureOf(running.done);
    expect(Buffer.byteLength(failure.stderrTail)).toBeLessThanOrEqual(4096);
    expect(failure.stderrTail).toMatch(/FATAL: the last words$/);
    expect(failure.message).toBe('sh exited with status 1: FATAL: the last words');
  });

  it('feeds stdin from a buffer, and from a stream whose failure fails the run', async () => {
    expect(await captureProcess('/usr/bin/cat', [], { input: Buffer.from('from a buffer') })).toBe('from a buffer');
    expect(await captureProcess('/usr/bin/cat', [], { input: Readable.from(['from ', 'a stream']) })).toBe('from a stream');
    const broken = new PassThrough();
    const running = startProcess('/usr/bin/cat', [], { input: broken });
    running.child.stdout!.resume();
    broken.write('some bytes');
    broken.destroy(new Error('the archive could not be read'));
    await expect(running.done).rejects.toThrow(/cat was killed by SIGTERM|the archive could not be read/);
  });

  it('runToExit reports the status without judging it', async () => {
    expect(await runToExit(SH, ['-c', 'echo why >&2; exit 7'])).toEqual({ status: 7, signal: null, stderr: 'why', code: 7 });
    expect((await runToExit(SH, ['-c', 'kill -TERM $$'])).code).toBe(128);
  });
});

describe('the wrappers keep their words', () => {
  it('runProgram says "interrupted" as it always has', async () => {
    const controller = new AbortController();
    const run = runProgram({ name: 'pg_basebackup', path: '/usr/bin/sleep' }, ['30'], { failure: 'BASEBACKUP_FAILED', signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(run).rejects.toMatchObject({ code: 'INTERRUPTED', message: 'pg_basebackup was stopped: interrupted.' });
  });

  it('runProgramWithInput checks both the feed and the exit status', async () => {
    const out = await runProgramWithInput({ name: 'cat', path: '/usr/bin/cat' }, [], Readable.from(['abc']), { failure: 'INTEGRITY_FAILED' });
    expect(out.stdout).toBe('abc');
    await expect(runProgramWithInput({ name: 'tar', path: SH }, ['-c', 'cat >/dev/null; echo "tar: damaged" >&2; exit 2'], Readable.from(['abc']), { failure: 'INTEGRITY_FAILED' })).rejects.toMatchObject({ code: 'INTEGRITY_FAILED', message: 'tar exited with status 2: tar: damaged' });
  });
});

describe('StderrTail', () => {
  it('never holds more than its limit and drops a character cut in half', () => {
    const tail = new StderrTail(8);
    for (let i = 0; i < 1000; i++) tail.push('ééééé\n');
    expect(Buffer.byteLength(tail.toString())).toBeLessThanOrEqual(8);
    expect(tail.toString()).not.toContain('\uFFFD');
  });
});
