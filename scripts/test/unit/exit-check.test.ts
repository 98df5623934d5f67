import { describe, expect, it, vi } from 'vitest';
import { armExitCheck, describeHandle } from '../../lib/cli/exit-check.js';

describe('the exit check', () => {
  it.each([
    [{ constructor: { name: 'Socket' }, remoteAddress: '127.0.0.1', remotePort: 5432, localPort: 40000 }, 'Socket connected to 127.0.0.1:5432 (local port 40000)'],
    [{ constructor: { name: 'ChildProcess' }, spawnfile: '/usr/bin/psql', pid: 42 }, 'child process /usr/bin/psql (pid 42)'],
    [{ constructor: { name: 'Socket' }, _host: 'db.example' }, 'Socket to db.example (not connected)'],
    [{ constructor: { name: 'Server' } }, 'Server'],
  ])('names %o as %s', (handle, text) => {
    expect(describeHandle(handle)).toBe(text);
  });

  it('arms nothing unless KIT_EXIT_CHECK holds a number of seconds, and never holds the process itself', () => {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    try {
      for (const value of [undefined, '', '0', 'yes', '-3']) armExitCheck({ KIT_EXIT_CHECK: value });
      expect(timers).not.toHaveBeenCalled();
      armExitCheck({ KIT_EXIT_CHECK: '3600' });
      expect(timers).toHaveBeenCalledTimes(1);
      expect(timers.mock.calls[0]![1]).toBe(3_600_000);
      const timer = timers.mock.results[0]!.value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
      clearTimeout(timer);
    } finally {
      timers.mockRestore();
    }
  });
});
