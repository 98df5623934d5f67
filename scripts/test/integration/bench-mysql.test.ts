/**
 * `pnpm bench -- --engine mysql` at its smallest: one run of every case on a throw-away MariaDB
 * server. No figure is judged (speed is never asserted in a test): the bench must finish, measure
 * both sides of every check or say why one side was not measured, stream every row with both
 * drivers, and take its server with it.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { REPO, cli } from '../support/harness.js';

interface CaseResult {
  id: string;
  medianSeconds: number | null;
  rows?: number;
  peakRssBytes?: number;
  notMeasured?: string;
}
interface Check {
  label: string;
  value?: number;
  notMeasured?: string;
}
interface Report {
  engine: string;
  facts: { serverVersion: string; serverPort: number; database: { sizeBytes: number } };
  cases: CaseResult[];
  checks: Check[];
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('pnpm bench -- --engine mysql', () => {
  it('measures the raw MariaDB programs and both drivers, gives each kit check a ratio or the reason it has none, and removes its server', async () => {
    const run = await cli('bench', ['--engine', 'mysql', '--scale', '1', '--runs', '1', '--json'], { cwd: REPO });
    expect(run.code, run.stderr).toBe(0);
    const report = run.json<Report>();
    expect(report.engine).toBe('mysql');
    expect(report.facts.serverVersion).toMatch(/MariaDB/);
    expect(report.facts.database.sizeBytes).toBeGreaterThan(10e6);
    const byId = new Map(report.cases.map((c) => [c.id, c]));
    for (const raw of ['mysql-raw-dump', 'mysql-raw-restore', 'mysql-raw-tsv']) {
      expect(byId.get(raw)?.medianSeconds, raw).toBeGreaterThan(0);
    }
    for (const kit of ['mysql-kit-backup', 'mysql-kit-restore', 'mysql-kit-export']) {
      const c = byId.get(kit)!;
      if (c.notMeasured === undefined) expect(c.medianSeconds, kit).toBeGreaterThan(0);
      else expect(c.notMeasured, kit).toMatch(/\S/);
    }
    const labels = report.checks.map((c) => c.label);
    expect(labels.slice(0, 3)).toEqual(['kit backup / raw mariadb-dump', 'kit restore / raw mariadb < dump', 'kit export / raw mariadb --batch per table']);
    // the kit's own memory is checked once any kit case ran; the drivers' never counts as the kit's
    const measuredKit = report.cases.some((c) => c.id.startsWith('mysql-kit-') && c.notMeasured === undefined);
    expect(labels.slice(3)).toEqual(measuredKit ? ['kit peak RSS, MB (max over runs)'] : []);
    for (const check of report.checks) expect(check.value !== undefined || check.notMeasured !== undefined, check.label).toBe(true);
    // scale 1 is 40,000 events; both drivers read every one, in processes of their own
    for (const driver of ['mysql-driver-mysql2', 'mysql-driver-mariadb']) {
      expect(byId.get(driver)?.rows, driver).toBe(40_000);
      expect(byId.get(driver)?.peakRssBytes, driver).toBeGreaterThan(0);
    }
    expect(await portOpen(report.facts.serverPort)).toBe(false);
  });

  it('refuses --url and --data with --engine mysql before starting anything', async () => {
    const run = await cli('bench', ['--engine', 'mysql', '--data', 'pgbench'], { cwd: REPO });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--engine mysql always starts its own MariaDB server/);
  });
});
