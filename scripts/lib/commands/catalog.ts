/**
 * Every `Command` of the kit by its name, for what needs them all at once: the registry's test
 * and the reference generator. Entry files never import this (each bundle holds its own command
 * only); the registry test checks that this list and the registry name the same commands.
 */
import type { Command, CommonArgs } from '../cli/run.js';
import { backupCommand } from './backup.js';
import { consoleCommand } from './console.js';
import { depsCommand } from './deps.js';
import { dropCommand } from './drop.js';
import { exportCommand } from './export.js';
import { importCommand } from './import.js';
import { keygenCommand } from './keygen.js';
import { listCommand } from './list.js';
import { safeMigrateCommand } from './migrate-safe.js';
import { physicalBackupCommand, physicalRestoreCommand, physicalRetentionCommand, physicalVerifyCommand } from './physical.js';
import { pullCommand, pushCommand } from './push.js';
import { restoreCommand } from './restore.js';
import { retentionCommand } from './retention.js';
import { sqlCommand } from './sql.js';
import { dbRefreshCommand, dbSyncCommand } from './sync.js';
import { verifyCommand } from './verify.js';
import { walFetchCommand, walPushCommand, walStatusCommand } from './wal.js';

// Each command's own argument and result types do not matter to a catalog: only its contract does.
type AnyCommand = Command<CommonArgs, unknown>;

export const COMMANDS: readonly AnyCommand[] = [
  backupCommand,
  physicalBackupCommand,
  safeMigrateCommand,
  restoreCommand,
  physicalRestoreCommand,
  walStatusCommand,
  walPushCommand,
  walFetchCommand,
  verifyCommand,
  physicalVerifyCommand,
  listCommand,
  retentionCommand,
  pushCommand,
  pullCommand,
  physicalRetentionCommand,
  dbSyncCommand,
  dbRefreshCommand,
  dropCommand,
  depsCommand,
  exportCommand,
  importCommand,
  sqlCommand,
  consoleCommand,
  keygenCommand,
] as unknown as readonly AnyCommand[];

export function commandNamed(name: string): AnyCommand | undefined {
  return COMMANDS.find((c) => c.name === name);
}
