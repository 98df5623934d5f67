/**
 * Test-only: with PGKIT_TEST_PAUSE set to `point`, a restore waits there for a signal (after the
 * CLI's own handler has seen it), so a test can land a kill on either side of a step without
 * timing. Inert unless the variable names this point. Both engines' restores use it.
 */
import type { Reporter } from '../context.js';

export type PausePoint = 'before-commit' | 'after-commit' | 'swap' | 'after-rename';

export async function pauseForTest(env: NodeJS.ProcessEnv, point: PausePoint, reporter: Reporter): Promise<void> {
  if (env.PGKIT_TEST_PAUSE !== point) return;
  reporter.notice(`test pause: ${point}`);
  await new Promise<void>((resolve) => {
    const go = () => {
      process.off('SIGINT', go);
      process.off('SIGTERM', go);
      resolve();
    };
    process.on('SIGINT', go);
    process.on('SIGTERM', go);
  });
}
