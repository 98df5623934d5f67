/**
 * The test build's proof that a command ends when its work ends. With KIT_EXIT_CHECK=<seconds>
 * in its environment (the integration harness sets it on every run), a command that has printed
 * its result arms a timer that does not itself keep the process alive: if the process is still
 * running when it fires, something else is (a connection, a timer, a child), so the run names
 * what is open on stderr and exits with a status no command uses. Without the variable nothing
 * happens. A user never sets it; a cron job that never ends is what it exists to prevent.
 */
import { engineForTarget } from '../engines/registry.js';
import type { Target } from '../config/target.js';

/** The line the harness looks for; what follows it names the open handles. */
export const EXIT_CHECK_MARKER = 'kit-exit-check: the command printed its result but did not exit';
/** Not an exit code of the kit: only a test build exits with it. */
export const EXIT_CHECK_STATUS = 99;

interface HandleLike {
  constructor?: { name?: string };
  remoteAddress?: string;
  remotePort?: number;
  localPort?: number;
  pid?: number;
  spawnfile?: string;
  _host?: string | null;
  fd?: number;
}

/** One line per open handle: a socket's peer, a child's program and pid; enough to find its owner. */
export function describeHandle(handle: HandleLike): string {
  const kind = handle.constructor?.name ?? 'handle';
  if (handle.spawnfile !== undefined || kind === 'ChildProcess') return `child process ${handle.spawnfile ?? '?'} (pid ${handle.pid ?? '?'})`;
  if (handle.remoteAddress !== undefined) return `${kind} connected to ${handle.remoteAddress}:${handle.remotePort ?? '?'} (local port ${handle.localPort ?? '?'})`;
  if (handle._host) return `${kind} to ${handle._host} (not connected)`;
  return handle.fd !== undefined ? `${kind} (fd ${handle.fd})` : kind;
}

function openHandles(): string[] {
  // Undocumented but stable since Node 0.x; the documented list below has only type names.
  const handles = (process as unknown as { _getActiveHandles?: () => HandleLike[] })._getActiveHandles?.() ?? [];
  // stdio is open in every process and never what keeps one alive
  return handles.filter((h) => !(h.fd !== undefined && h.fd >= 0 && h.fd <= 2)).map(describeHandle);
}

function report(seconds: number): string {
  return [
    `${EXIT_CHECK_MARKER} within ${seconds}s.`,
    `kit-exit-check: active resources: ${process.getActiveResourcesInfo().join(', ') || '(none)'}`,
    ...openHandles().map((h) => `kit-exit-check: open: ${h}`),
  ].join('\n') + '\n';
}

/** Arm the check after a command's result is out; inert unless KIT_EXIT_CHECK holds a number of seconds. */
export function armExitCheck(env: NodeJS.ProcessEnv): void {
  const seconds = Number(env.KIT_EXIT_CHECK);
  if (!env.KIT_EXIT_CHECK || !Number.isFinite(seconds) || seconds <= 0) return;
  const timer = setTimeout(() => {
    process.stderr.write(report(seconds));
    process.exit(EXIT_CHECK_STATUS);
  }, seconds * 1000);
  timer.unref();
}

/**
 * For the test that shows the check works: KIT_EXIT_CHECK_LEAK=connection (honoured only when the
 * check is armed) opens one more connection to the command's target and never closes it.
 */
export async function leakOnPurpose(env: NodeJS.ProcessEnv, target: Target | undefined): Promise<void> {
  if (!env.KIT_EXIT_CHECK || env.KIT_EXIT_CHECK_LEAK !== 'connection' || target === undefined) return;
  await engineForTarget(target).connect(target).catch(() => undefined);
}
