/** The sample application's database, migrated with its real migration tool and seeded. */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO, createDatabase, runTool, type TestDatabase } from './harness.js';

export const APP = path.join(REPO, 'packages/database');
export const NODE_PG_MIGRATE = path.join(APP, 'node_modules/.bin/node-pg-migrate');

export function migrate(url: string, migrationsDir = path.join(APP, 'migrations')): void {
  execFileSync(NODE_PG_MIGRATE, ['up', '--migrations-dir', migrationsDir, '--no-single-transaction'], { env: { PATH: process.env.PATH, DATABASE_URL: url }, stdio: 'pipe' });
}

export async function sampleApp(): Promise<TestDatabase> {
  const db = await createDatabase();
  migrate(db.url);
  await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', path.join(APP, 'seed.sql')], db.url);
  return db;
}

/** The app's migrations plus extra ones (name → body of an ES module with up/down). */
export function migrationsWith(extra: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-migrations-'));
  cpSync(path.join(APP, 'migrations'), dir, { recursive: true });
  for (const [name, body] of Object.entries(extra)) writeFileSync(path.join(dir, name), body);
  return dir;
}

/** A migration that commits on its own, then one that fails half-way. */
export const FAILING_MIGRATIONS = {
  '1763700200000_coupons.js': `export const up = (pgm) => {
  pgm.noTransaction();
  pgm.sql("CREATE TABLE coupons (code text PRIMARY KEY, percent int)");
  pgm.sql("INSERT INTO coupons VALUES ('WELCOME', 10)");
};\n`,
  '1763700300000_broken.js': `export const up = (pgm) => {
  pgm.sql('ALTER TABLE orders ADD COLUMN discount_cents int');
  pgm.sql('UPDATE orders SET discount_cents = 1 / (id - id)');
};\n`,
};

export function migrateCommand(dir: string): string {
  return `${NODE_PG_MIGRATE} up --migrations-dir ${dir} --no-single-transaction`;
}
