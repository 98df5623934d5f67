import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, type Command, type CommonArgs } from '../../lib/cli/run.js';
import { retentionCommand } from '../../lib/commands/retention.js';
import { formatAge, formatDuration, formatStamp, formatTimestamp, parseInstant } from '../../lib/text/time.js';

const NOW = new Date('2026-11-21T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);

describe('the one age formatter', () => {
  it.each([
    [0, '0s'],
    [45_000, '45s'],
    [41 * 60_000, '41m'],
    [3 * 3600_000 + 5 * 60_000, '3h 05m'],
    // the restore picker used to show "72:00:00 ago" where db:list showed "3d"
    [72 * 3600_000, '3d'],
    [12 * 86_400_000 + 3600_000, '12d'],
  ])('%d ms ago is %s', (ms, text) => {
    expect(formatAge(ago(ms), NOW)).toBe(text);
    expect(formatAge(ago(ms).toISOString(), NOW)).toBe(text);
  });

  it('says so when a backup is from the future (clock skew)', () => {
    expect(formatAge(new Date(NOW.getTime() + 90_000), NOW)).toBe('in the future (1m)');
  });
});

describe('timestamps and stamps', () => {
  it('are UTC whatever the machine says', () => {
    const date = new Date('2026-11-21T23:59:58.750Z');
    expect(formatStamp(date)).toBe('20261121_235958');
    expect(formatTimestamp(date)).toBe('2026-11-21 23:59:58Z');
    expect(formatTimestamp('2026-11-21T23:59:58.750Z')).toBe('2026-11-21 23:59:58Z');
  });

  it.each([
    [5_000, '0:05'],
    [754_000, '12:34'],
    [3_723_000, '1:02:03'],
  ])('a duration of %d ms is %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('--now: strict ISO 8601', () => {
  it.each([
    ['2026-11-21T12:00:00Z', '2026-11-21T12:00:00.000Z'],
    ['2026-11-21T12:00Z', '2026-11-21T12:00:00.000Z'],
    ['2026-11-21T13:00:00+01:00', '2026-11-21T12:00:00.000Z'],
    ['2026-11-21', '2026-11-21T00:00:00.000Z'],
  ])('accepts %s', (text, iso) => expect(parseInstant(text)?.toISOString()).toBe(iso));

  it.each(['Nov 21 2026', '21/11/2026', '2026-11-21T12:00:00', '2026-11-21 12:00:00Z', '2026-02-30', '2026-11-21T24:30:00Z', ''])('refuses %j', (text) => {
    expect(parseInstant(text)).toBeUndefined();
  });

  it('db:retention --now "Nov 21 2026" is a usage error that shows the expected form', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'pgkit-now-'));
    let stderr = '';
    const code = await runCli(retentionCommand as unknown as Command<CommonArgs, unknown>, ['--now', 'Nov 21 2026', '--dry-run'], {
      root,
      env: { BACKUP_DIR: root },
      stdout: () => undefined,
      stderr: (t) => void (stderr += t),
    });
    process.exitCode = 0;
    rmSync(root, { recursive: true, force: true });
    expect(code).toBe(2);
    expect(stderr).toContain('--now takes an ISO 8601 time with its zone, like 2026-11-21T12:00:00Z');
  });
});
