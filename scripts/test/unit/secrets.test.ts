/**
 * Malformed connection settings must never put a password in front of anyone: not on stderr, in
 * --json, in the run log or in the webhook message. Each case is one a fault probe found leaking.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTarget, targetFromUrl } from '../../lib/config/target.js';
import { KitError } from '../../lib/errors.js';
import { redact } from '../../lib/redact.js';
import { runCli, type Command, type CommonArgs } from '../../lib/cli/run.js';
import { backupCommand } from '../../lib/commands/backup.js';

let server: Server;
let hookUrl = '';
const webhook: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      webhook.push(body);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** db:backup with this configuration, everything it printed, logged and sent. */
async function backupWith(files: Record<string, string>, env: NodeJS.ProcessEnv, json: boolean) {
  const root = mkdtempSync(path.join(tmpdir(), 'pgkit-secret-'));
  mkdirSync(path.join(root, 'packages/database'), { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(root, file), text);
  let out = '';
  webhook.length = 0;
  const log = path.join(root, 'run.log');
  const code = await runCli(backupCommand as unknown as Command<CommonArgs, unknown>, ['--notify', hookUrl, ...(json ? ['--json'] : [])], {
    root,
    env: { ...env, LOG_FILE: log },
    stdout: (t) => void (out += t),
    stderr: (t) => void (out += t),
  });
  process.exitCode = 0;
  const everything = [out, readFileSync(log, 'utf8'), ...webhook].join('\n');
  rmSync(root, { recursive: true, force: true });
  return { code, everything };
}

const CASES: Array<[string, Record<string, string>, NodeJS.ProcessEnv, string[]]> = [
  // no "//": a URL parser reads the password as the path, i.e. the database name
  ['a DATABASE_URL without //', {}, { DATABASE_URL: 'postgres:Sup3rSecretPw@db.example.com/app' }, ['Sup3rSecretPw']],
  ['a malformed URL whose password holds a space', {}, { DATABASE_URL: 'postgresql://app:two words!@db.example.com:99999/app' }, ['two words', 'words!']],
  ['a # in an .env password (read as a comment)', { 'packages/database/.env': 'DATABASE_URL=postgresql://app:abc#defSecret@db.example.com/app\n' }, {}, ['abc', 'defSecret']],
  ['a password that starts with password@', {}, { DATABASE_URL: 'postgresql://app:password@Xy9@db.example.com:99999/app' }, ['Xy9']],
];

describe('malformed connection settings never print the password', () => {
  it.each(CASES)('%s: exits 3 naming the problem, the password nowhere (text and --json)', async (_name, files, env, secrets) => {
    for (const json of [false, true]) {
      const run = await backupWith(files, env, json);
      expect(run.code).toBe(3);
      expect(run.everything).toMatch(/BAD_DATABASE_URL|DATABASE_URL/);
      for (const secret of secrets) expect(run.everything).not.toContain(secret);
    }
  });

  it('says what is wrong with each', () => {
    const message = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error instanceof KitError ? `${error.code}: ${error.message}` : String(error);
      }
      return 'no error';
    };
    expect(message(() => targetFromUrl('postgres:Pw@host/db', 'the environment', 'default'))).toMatch(/^BAD_DATABASE_URL: .*must start with postgresql:\/\/, mysql:\/\/ or mariadb:\/\/ /);
    const root = mkdtempSync(path.join(tmpdir(), 'pgkit-hash-'));
    mkdirSync(path.join(root, 'packages/database'), { recursive: true });
    writeFileSync(path.join(root, 'packages/database/.env'), 'DATABASE_URL=postgresql://app:abc#def@db/app\n');
    expect(message(() => resolveTarget({ root, processEnv: {} }))).toMatch(/^BAD_DATABASE_URL: .*"#".*quote the value.*%23/i);
    // a # after a space is a comment, as everywhere in .env files
    writeFileSync(path.join(root, 'packages/database/.env'), 'DATABASE_URL=postgresql://app:abc@db/app # local\n');
    expect(resolveTarget({ root, processEnv: {} }).password).toBe('abc');
    // quoted, the # is part of the password
    writeFileSync(path.join(root, 'packages/database/.env'), 'DATABASE_URL="postgresql://app:abc#def@db/app"\n');
    expect(message(() => resolveTarget({ root, processEnv: {} }))).toMatch(/^BAD_DATABASE_URL/);
    writeFileSync(path.join(root, 'packages/database/.env'), 'DATABASE_URL="postgresql://app:abc%23def@db/app"\n');
    expect(resolveTarget({ root, processEnv: {} }).password).toBe('abc#def');
    rmSync(root, { recursive: true, force: true });
  });
});

describe('redact()', () => {
  it.each([
    ['postgresql://app:hunter2@db/app failed', 'postgresql://app:***@db/app failed'],
    ['postgres:Pw123@host/db', 'postgres:***@host/db'],
    ['bad url postgresql://app:two words@host:99999/db here', 'bad url postgresql://app:***@host:99999/db here'],
    ['postgresql://app:password@Xy9@host/db', 'postgresql://app:***@host/db'],
    ['postgresql://app:p@ss@host/db and postgresql://b:q@h2/d', 'postgresql://app:***@host/db and postgresql://b:***@h2/d'],
    // the kit's own example stays readable
    ['Expected postgresql://user:password@host:5432/database', 'Expected postgresql://user:password@host:5432/database'],
  ])('%s → %s', (text, shown) => expect(redact(text)).toBe(shown));
});
