/**
 * The MySQL/MariaDB accounts a database needs, for the globals artifact: those holding privileges
 * on it (database, table, column and routine grants) and the definers of its views, routines,
 * triggers and events (which fail without their definer). Each as SHOW CREATE USER (its
 * authentication, password hash included: it must restore) and SHOW GRANTS say it; a MariaDB role
 * as CREATE ROLE and its grants. The hashes go into the artifact only, never into a message.
 *
 * Privileges the backup's user may not see are not listed by the server, and an account it may
 * not read (SHOW CREATE USER needs SELECT on the mysql database) is left out with a notice.
 */
import type { Client, RolesDump, RolesDumpRequest } from '../engine.js';
import { quoteMySqlIdentifier } from './quote.js';
import { MySqlScriptLexer } from './script-lexer.js';

interface Account {
  user: string;
  host: string;
}

const GRANTEES = `
  SELECT GRANTEE AS g FROM information_schema.SCHEMA_PRIVILEGES WHERE TABLE_SCHEMA = DATABASE()
  UNION SELECT GRANTEE FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = DATABASE()
  UNION SELECT GRANTEE FROM information_schema.COLUMN_PRIVILEGES WHERE TABLE_SCHEMA = DATABASE()`;

const DEFINERS = `
  SELECT DEFINER AS d FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()
  UNION SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()
  UNION SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
  UNION SELECT DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()`;

/** "'app reader'@'%'" (a GRANTEE) → the account; undefined for text of another shape. Pure. */
export function parseGrantee(grantee: string): Account | undefined {
  const m = /^'((?:[^'\\]|''|\\.)*)'@'((?:[^'\\]|''|\\.)*)'$/.exec(grantee);
  const unquote = (s: string) => s.replace(/''/g, "'").replace(/\\(.)/g, '$1');
  return m ? { user: unquote(m[1]!), host: unquote(m[2]!) } : undefined;
}

/** "app@%" (a DEFINER: user@host, the host after the last @) → the account. Pure. */
export function parseDefiner(definer: string): Account | undefined {
  const at = definer.lastIndexOf('@');
  return at > 0 ? { user: definer.slice(0, at), host: definer.slice(at + 1) } : undefined;
}

/** The account as MySQL writes it in statements: `user`@`host`. */
export function accountName(account: Account): string {
  return `${quoteMySqlIdentifier(account.user)}@${quoteMySqlIdentifier(account.host)}`;
}

async function routineGrantees(client: Client): Promise<Account[]> {
  // Routine grants are in mysql.procs_priv only (no information_schema view); a user who may not
  // read it sees none, as with the others.
  try {
    const { rows } = await client.query<{ user: string; host: string }>('SELECT DISTINCT User AS user, Host AS host FROM mysql.procs_priv WHERE Db = DATABASE()');
    return rows;
  } catch {
    return [];
  }
}

export async function neededAccounts(client: Client): Promise<Account[]> {
  const grantees = (await client.query<{ g: string }>(GRANTEES)).rows.map((r) => parseGrantee(r.g));
  const definers = (await client.query<{ d: string }>(DEFINERS)).rows.map((r) => parseDefiner(r.d));
  const all = [...grantees, ...definers, ...(await routineGrantees(client))].filter((a): a is Account => a !== undefined);
  const unique = new Map(all.map((a) => [accountName(a), a]));
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, a]) => a);
}

const firstColumn = (rows: Array<Record<string, unknown>>) => rows.map((r) => String(Object.values(r)[0]));

/** One account's statements: how it is created (a role: CREATE ROLE) and every grant it holds. */
async function statementsOf(client: Client, account: Account): Promise<string[]> {
  const grants = firstColumn((await client.query('SHOW GRANTS FOR ?@?', [account.user, account.host])).rows);
  if (account.host === '') return [`CREATE ROLE IF NOT EXISTS ${quoteMySqlIdentifier(account.user)}`, ...grants];
  const created = firstColumn((await client.query('SHOW CREATE USER ?@?', [account.user, account.host])).rows);
  return [...created, ...grants];
}

export async function dumpMySqlRoles(request: RolesDumpRequest): Promise<RolesDump> {
  const { client, target, notice } = request;
  const accounts = await neededAccounts(client);
  const lines: string[] = [];
  const saved: string[] = [];
  const unread: string[] = [];
  for (const account of accounts) {
    request.signal.throwIfAborted();
    try {
      const statements = await statementsOf(client, account);
      lines.push(`-- ${accountName(account)}`, ...statements.map((s) => `${s};`));
      saved.push(`${account.user}@${account.host}`);
    } catch (error) {
      // Never the server's words here: they could quote the statement, and so an account's hash.
      const code = (error as { code?: string }).code ?? 'an error';
      unread.push(`${account.user}@${account.host} (${code})`);
    }
  }
  if (unread.length) {
    notice(`the backup's globals leave out ${unread.join(', ')}: ${request.target.user} may not read ${unread.length === 1 ? 'that account' : 'those accounts'} (SHOW CREATE USER and SHOW GRANTS need SELECT on the mysql database). A restore elsewhere must create ${unread.length === 1 ? 'it' : 'them'} by hand.`);
  }
  const header = [
    `-- Users that database ${target.database} needs (its grantees, and the definers of its views, routines, triggers and events), from SHOW CREATE USER and SHOW GRANTS.`,
    '-- Restore them by hand before restoring the database elsewhere: mariadb --defaults-extra-file=<option file> < <this file>',
    '-- (it fails on a user that already exists; db:restore --with-roles does not create MySQL accounts).',
  ];
  return { sql: [...header, ...lines, ''].join('\n'), roles: saved, passwords: unread.length === 0 };
}

/** What the globals artifact may hold: the statements dumpMySqlRoles writes, and nothing else. */
const ROLE_STATEMENT = /^(?:CREATE\s+(?:USER|ROLE)\b|GRANT\b|ALTER\s+USER\b|SET\s+DEFAULT\s+ROLE\b)/i;
const CREATES_ACCOUNT = /^CREATE\s+(?:USER|ROLE)\b/i;

/**
 * A MySQL globals artifact read as the mariadb client reads it (strings, comments, delimiters):
 * every statement must be one the kit writes, and those that create an account are counted.
 */
export function checkMySqlRoles(text: string): { accounts: number; problem?: string } {
  const heads: string[] = [];
  let head = '';
  const lexer = new MySqlScriptLexer({
    text: (chunk, start, end) => {
      if (head.length < 32) head += chunk.subarray(start, Math.min(end, start + 32)).toString('utf8');
    },
    gap: () => {
      if (head.length < 32) head += ' ';
    },
    statementEnd: () => {
      heads.push(head.trim());
      head = '';
    },
    lineComment: () => undefined,
    delimiter: () => undefined,
  });
  lexer.write(Buffer.from(text, 'utf8'));
  lexer.end();
  if (head.trim()) heads.push(head.trim());
  const accounts = heads.filter((h) => CREATES_ACCOUNT.test(h)).length;
  const other = heads.find((h) => !ROLE_STATEMENT.test(h));
  return other === undefined ? { accounts } : { accounts, problem: `holds a statement the kit does not write (${other.slice(0, 24)}…)` };
}
