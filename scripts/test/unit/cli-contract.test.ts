import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KitError } from '../../lib/errors.js';
import { failWithReport, runCli, usageText, type CliIo, type Command, type CommonArgs } from '../../lib/cli/run.js';
import { backupCommand } from '../../lib/commands/backup.js';
import { depsCommand } from '../../lib/commands/deps.js';
import { dropCommand } from '../../lib/commands/drop.js';
import { listCommand } from '../../lib/commands/list.js';
import { retentionCommand } from '../../lib/commands/retention.js';
import { restoreCommand } from '../../lib/commands/restore.js';
import { safeMigrateCommand } from '../../lib/commands/migrate-safe.js';
import { dbRefreshCommand, dbSyncCommand } from '../../lib/commands/sync.js';
import { verifyCommand } from '../../lib/commands/verify.js';
import { optionTable } from '../../lib/cli/options.js';

/** A run of runCli in its own directory, with what it printed. */
async function runIn(command: Command<CommonArgs, unknown>, argv: string[], env: NodeJS.ProcessEnv = {}) {
  const root = mkdtempSync(path.join(tmpdir(), 'pgkit-cli-'));
  let stdout = '';
  let stderr = '';
  const io: CliIo = { root, env: { LOG_FILE: path.join(root, 'run.log'), ...env }, stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) };
  const code = await runCli(command, argv, io);
  process.exitCode = 0;
  let log: Array<Record<string, unknown>> = [];
  try {
    log = readFileSync(path.join(root, 'run.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    // no log written
  }
  rmSync(root, { recursive: true, force: true });
  return { code, stdout, stderr, log };
}

interface Report {
  checked: number;
}

function fakeCommand(overrides: Partial<Command<CommonArgs, Report>>): Command<CommonArgs, Report> {
  return {
    name: 'fake',
    synopsis: 'fake',
    description: 'A command made for this test.',
    options: {},
    shared: [],
    parse: (_values, _positionals, common) => common,
    run: async () => ({ checked: 3 }),
    render: (r) => [`checked ${r.checked}`],
    logFields: (r) => ({ checked: r.checked }),
    ...overrides,
  };
}

let server: Server;
let hookUrl = '';
const received: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('runCli', () => {
  it('a throw while rendering still gives an error line, a run-log entry and a notification', async () => {
    received.length = 0;
    const command = fakeCommand({
      render: () => {
        throw new Error('render broke');
      },
    });
    const run = await runIn(command, ['--notify', hookUrl]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^fake: error: Unexpected error: Error: render broke/m);
    expect(run.stdout).toBe('');
    expect(run.log).toHaveLength(1);
    expect(run.log[0]).toMatchObject({ command: 'fake', outcome: 'failure', exitCode: 1, error: { code: 'INTERNAL' } });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ command: 'fake', outcome: 'failure', exitCode: 1 });
  });

  it('a throw while writing $GITHUB_OUTPUT under --json gives one ok:false object', async () => {
    const command = fakeCommand({
      githubOutput: () => {
        throw new KitError('BACKUP_DIR_UNWRITABLE', 'cannot write outputs');
      },
    });
    const run = await runIn(command, ['--json'], { GITHUB_OUTPUT: '/nonexistent/out' });
    expect(run.code).toBe(8);
    expect(JSON.parse(run.stdout)).toEqual({ ok: false, error: { code: 'BACKUP_DIR_UNWRITABLE', exitCode: 8, message: 'cannot write outputs' } });
    expect(run.log[0]).toMatchObject({ outcome: 'failure', exitCode: 8 });
  });

  it('a command can return a report and fail: both are shown, in text and in --json', async () => {
    const command = fakeCommand({ run: async () => failWithReport({ checked: 2 }, new KitError('INTEGRITY_FAILED', '1 of 2 failed')) });
    const text = await runIn(command, []);
    expect(text.code).toBe(12);
    expect(text.stdout).toBe('checked 2\n');
    expect(text.stderr).toBe('fake: error: 1 of 2 failed\n');
    expect(text.log[0]).toMatchObject({ outcome: 'failure', checked: 2 });
    const json = await runIn(command, ['--json']);
    expect(json.code).toBe(12);
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, checked: 2, error: { code: 'INTEGRITY_FAILED', exitCode: 12, message: '1 of 2 failed' } });
  });

  it('--help needs no database and writes no log', async () => {
    const run = await runIn(fakeCommand({}), ['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: fake\n\nA command made for this test\.\n\nOptions:\n {2}--json/);
    expect(run.log).toEqual([]);
  });
});

const commands = [backupCommand, restoreCommand, verifyCommand, listCommand, retentionCommand, dbSyncCommand, dbRefreshCommand, dropCommand, depsCommand, safeMigrateCommand] as unknown as Array<Command<CommonArgs, unknown>>;

describe('each command declares its options', () => {
  it.each(commands.map((c) => [c.name, c]))('%s: --help lists every flag it accepts, and only those', (_name, command) => {
    const help = usageText(command);
    const accepted = Object.entries(optionTable(command.options, command.shared)).flatMap(([name, spec]) => [name, ...(spec.aliases ?? [])]);
    for (const flag of accepted) expect(help).toContain(`--${flag}`);
    const block = help.slice(help.indexOf('\nOptions:\n'));
    const shown = [...block.matchAll(/^ {2}(--[a-z-]+(?:, --[a-z-]+)*)/gm)].flatMap((m) => m[1]!.split(', ').map((f) => f.slice(2)));
    expect(shown.sort()).toEqual([...accepted].sort());
  });

  it('documents the flags that were missing from the hand-written help', () => {
    expect(usageText(backupCommand as never)).toMatch(/--type <type>[\s\S]*--description <text>[\s\S]*--notify <url>/);
    expect(usageText(restoreCommand as never)).toMatch(/--show-lines/);
    expect(usageText(dropCommand as never)).toMatch(/--force, --yes, -y/);
  });

  it.each([
    ['list', '--url', listCommand],
    ['retention', '--env-file', retentionCommand],
    ['deps', '--url', depsCommand],
    ['deps', '--env', depsCommand],
  ] as const)('%s refuses %s, which it cannot honour', async (_name, flag, command) => {
    const run = await runIn(command as unknown as Command<CommonArgs, unknown>, [flag, 'x']);
    expect(run.code).toBe(2);
    // a connection flag on a command that never connects says so rather than "unknown"
    expect(run.stderr).toContain(flag === '--env' ? `Unknown option ${flag}.` : `${flag} names a database to connect to, and this command never connects to one`);
  });

  it('--yes is --force', async () => {
    const parsed: Array<{ force: boolean }> = [];
    // Its own name: under drop's, runCli would first take drop's lock, which needs a database.
    const spy = { ...dropCommand, name: 'drop-spy', run: async (args: { force: boolean }) => void parsed.push(args) } as unknown as Command<CommonArgs, unknown>;
    await runIn(spy, ['--yes', '--json']);
    await runIn(spy, ['-y', '--json']);
    expect(parsed.map((p) => p.force)).toEqual([true, true]);
  });
});
