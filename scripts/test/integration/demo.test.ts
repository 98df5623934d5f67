import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, cli } from '../support/harness.js';

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

describe('pnpm demo', () => {
  it('walks backup → list → deep verify → disaster → restore → proof, exits 0 and leaves no server running', async () => {
    const backups = mkdtempSync(path.join(tmpdir(), 'pgkit-demo-backups-'));
    const run = await cli('demo', [], { cwd: REPO, env: { BACKUP_DIR: backups, LOG_FILE: path.join(backups, '{command}.log') } });
    expect(run.code, run.stderr).toBe(0);
    const steps = ['Starting a throw-away PostgreSQL cluster', 'pnpm db:backup', 'pnpm db:list', 'pnpm db:verify -- --latest --deep', 'A disaster', 'pnpm db:restore -- --latest', 'Proof: the data is back'];
    let at = 0;
    for (const step of steps) {
      const found = run.stdout.indexOf(step, at);
      expect(found, step).toBeGreaterThan(-1);
      at = found;
    }
    expect(run.stdout).toMatch(/now: {5}customers 500, products 40, orders 3000, order_items missing/);
    expect(run.stdout).toMatch(/after: {3}customers 500, products 40, orders 3000, order_items 6000/);
    expect(run.stdout).toMatch(/passed {2}backup_demo_\d+_\d+ {2}\(deep\)/);
    const port = Number(/on 127\.0\.0\.1:(\d+)/.exec(run.stdout)![1]);
    expect(await portOpen(port)).toBe(false);
    expect(readdirSync(path.join(backups, 'demo')).filter((f) => f.endsWith('.info')).length).toBe(2); // the demo's and the pre-restore one
  });

  it('--engine mysql walks backup → list → deep verify → disaster → restore → proof on a throw-away MariaDB server, exits 0 and removes the server', async () => {
    const backups = mkdtempSync(path.join(tmpdir(), 'pgkit-demo-backups-'));
    const run = await cli('demo', ['--engine', 'mysql'], { cwd: REPO, env: { BACKUP_DIR: backups, LOG_FILE: path.join(backups, '{command}.log') } });
    expect(run.code, run.stderr).toBe(0);
    const steps = ['Starting a throw-away MariaDB server', 'pnpm db:backup', 'pnpm db:list', 'pnpm db:verify -- --latest --deep', 'A disaster', 'pnpm db:restore -- --latest', 'Proof: the data is back'];
    let at = 0;
    for (const step of steps) {
      const found = run.stdout.indexOf(step, at);
      expect(found, step).toBeGreaterThan(-1);
      at = found;
    }
    // the counts come from the server: the table's rows and the view's gone, then back
    expect(run.stdout).toMatch(/now: {5}customers 500, products 40, orders 3000, order_items 0, order_totals 0/);
    expect(run.stdout).toMatch(/after: {3}customers 500, products 40, orders 3000, order_items 6000, order_totals 3000/);
    const port = Number(/on 127\.0\.0\.1:(\d+)/.exec(run.stdout)![1]);
    expect(await portOpen(port)).toBe(false);
    const infos = readdirSync(path.join(backups, 'demo')).filter((f) => f.endsWith('.info'));
    for (const info of infos) expect(JSON.parse(readFileSync(path.join(backups, 'demo', info), 'utf8')).engine).toBe('mysql');
    expect(infos.length).toBe(2); // the demo's and the pre-restore one
    expect(run.stdout).toMatch(/passed {2}backup_demo_\d+_\d+ {2}\(deep\)/);
  });

  it('refuses an engine it does not know, before starting anything', async () => {
    const run = await cli('demo', ['--engine', 'oracle'], { cwd: REPO });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--engine takes postgresql or mysql, got "oracle"/);
  });
});
