/**
 * Questions asked in a terminal, and only there: prompts misbehaves without a TTY, so callers
 * check `interactive` first and refuse with a message naming the flag to use instead.
 */
import { KitError } from '../errors.js';

export function isInteractive(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

type Answers = Record<string, unknown>;

/** Ask one question; Ctrl-C or Esc cancels the whole command (exit 130), nothing changed. */
export async function ask(question: Record<string, unknown>): Promise<unknown> {
  const { default: prompts } = await import('prompts');
  const answers = (await prompts({ ...question, name: 'value', stdout: process.stderr } as unknown as Parameters<typeof prompts>[0], {
    onCancel: () => {
      throw new KitError('INTERRUPTED', 'Cancelled; nothing was changed.');
    },
  })) as Answers;
  return answers.value;
}
