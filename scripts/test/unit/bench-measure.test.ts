/**
 * The bench never makes up a figure: a case whose command does not work yet (mayBeUnavailable)
 * is reported as not measured, with the reason, and so is every check that needs it; any other
 * failing case still ends the bench.
 */
import { describe, expect, it } from 'vitest';
import { measure } from '../../bench/measure.js';
import type { BenchCase } from '../../bench/registry.js';
import { checksFor, renderText, type Facts } from '../../bench/report.js';

const raw: BenchCase = { id: 'raw', label: 'raw tool', run: async () => ({}) };
const kitNotYet: BenchCase = {
  id: 'kit',
  label: 'kit command',
  run: async () => {
    throw new Error('the kit\'s db-export exited with 13: Exporting is not available for MySQL/MariaDB databases\nmore detail');
  },
  target: { label: 'kit / raw', against: 'raw', max: 1 },
  mayBeUnavailable: true,
};

describe('bench cases that may be unavailable', () => {
  it('are not measured, with the first line of why, and are not run again; their check has no value', async () => {
    let tries = 0;
    const counted: BenchCase = { ...kitNotYet, run: async (dir) => (tries++, kitNotYet.run(dir)) };
    const results = await measure([raw, counted], 3);
    expect(tries).toBe(1);
    expect(results[0]!.seconds).toHaveLength(3);
    expect(results[1]).toMatchObject({ id: 'kit', seconds: [], notMeasured: "the kit's db-export exited with 13: Exporting is not available for MySQL/MariaDB databases" });
    const checks = checksFor([raw, counted], results);
    expect(checks).toEqual([{ label: 'kit / raw', target: '<= 1.00', value: undefined, pass: false, notMeasured: results[1]!.notMeasured }]);
    const text = renderText({ database: { origin: 'x', name: 'db', sizeBytes: 1, pgbenchScale: undefined, data: 'mixed' }, nproc: 2, cpuModel: 'cpu', totalMemoryBytes: 1, kernel: 'k', node: 'v20', serverVersion: '1', pgDump: 'p', tempDir: '/tmp' } satisfies Facts, 3, results, checks);
    expect(text).toMatch(/kit \/ raw +n\/a +<= 1\.00 +not measured \(see below\)/);
    expect(text).toContain("not measured: kit command: the kit's db-export exited with 13");
    expect(text).not.toMatch(/MISS|PASS/);
  });

  it('a case that must work still ends the bench when it fails', async () => {
    const broken: BenchCase = { ...kitNotYet, mayBeUnavailable: false };
    await expect(measure([raw, broken], 1)).rejects.toThrow(/exited with 13/);
  });
});
