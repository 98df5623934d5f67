/**
 * What a base backup needs from the server, asked before anything is written, and reported
 * together with exactly what to change. `planPrechecks` is pure: facts in, problems out.
 */
import type { Client } from '../engines/postgres/connect.js';
import { majorOf } from '../engines/postgres/connect.js';

export interface ServerSettings {
  versionNum: number;
  version: string;
  user: string;
  superuser: boolean;
  replication: boolean;
  walLevel: string;
  maxWalSenders: number;
  walSendersInUse: number;
  /** null when the user may not read pg_hba_file_rules (not a superuser): pg_basebackup will tell. */
  hbaReplicationLines: number | null;
  systemIdentifier: string;
  walSegmentSize: number;
  sizeBytes: number;
  dataDirectory: string | null;
  archiveMode: string;
  archiveCommand: string;
}

export async function readServerSettings(client: Client): Promise<ServerSettings> {
  const { rows } = await client.query<Record<string, string | null>>(`
    SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
           current_user AS usr, r.rolsuper::text AS super, r.rolreplication::text AS repl,
           current_setting('wal_level') AS wal_level, current_setting('max_wal_senders') AS senders,
           (SELECT count(*) FROM pg_stat_replication)::text AS used,
           (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
           (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segsize,
           (SELECT sum(pg_database_size(oid))::text FROM pg_database WHERE datallowconn) AS size,
           current_setting('archive_mode') AS archive_mode, current_setting('archive_command') AS archive_command
      FROM pg_roles r WHERE r.rolname = current_user`);
  const row = rows[0]!;
  const superuser = row.super === 'true';
  let hba: number | null = null;
  let dataDirectory: string | null = null;
  if (superuser) {
    const rules = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_hba_file_rules WHERE error IS NULL AND 'replication' = ANY(database) AND (user_name && ARRAY['all', current_user::text])`);
    hba = Number(rules.rows[0]!.n);
    dataDirectory = (await client.query<{ d: string }>(`SELECT current_setting('data_directory') AS d`)).rows[0]!.d;
  }
  return {
    versionNum: Number(row.num),
    version: row.version!,
    user: row.usr!,
    superuser,
    replication: row.repl === 'true',
    walLevel: row.wal_level!,
    maxWalSenders: Number(row.senders),
    walSendersInUse: Number(row.used),
    hbaReplicationLines: hba,
    systemIdentifier: row.sysid!,
    walSegmentSize: Number(row.segsize),
    sizeBytes: Number(row.size ?? 0),
    dataDirectory,
    archiveMode: row.archive_mode!,
    archiveCommand: row.archive_command!,
  };
}

export interface PrecheckInput {
  settings: ServerSettings;
  clientMajor: number;
  freeBytes: number;
  skipSpaceCheck: boolean;
  clientHost: string;
}

/** Every problem at once, each with the change that fixes it. */
export function planPrechecks({ settings: s, clientMajor, freeBytes, skipSpaceCheck, clientHost }: PrecheckInput): string[] {
  const problems: string[] = [];
  if (!s.replication && !s.superuser) {
    problems.push(`Role "${s.user}" may not open a replication connection. As a superuser run: ALTER ROLE "${s.user}" REPLICATION;`);
  }
  if (s.walLevel === 'minimal') {
    problems.push(`wal_level is minimal: a base backup and WAL archiving need wal_level = replica. Set it in postgresql.conf and restart the server.`);
  }
  const needed = s.walSendersInUse + 2;
  if (s.maxWalSenders < needed) {
    problems.push(`max_wal_senders is ${s.maxWalSenders} with ${s.walSendersInUse} in use; pg_basebackup streams its WAL on a second connection and needs 2 free. Set max_wal_senders = ${Math.max(10, needed)} in postgresql.conf and restart the server.`);
  }
  if (s.hbaReplicationLines === 0) {
    const address = clientHost.startsWith('/') ? 'local   replication' : `host    replication`;
    const who = clientHost.startsWith('/') ? `${s.user}` : `${s.user}  <this machine's address>/32`;
    problems.push(`pg_hba.conf has no line allowing replication connections for "${s.user}". Add "${address}  ${who}  scram-sha-256" and reload (SELECT pg_reload_conf();).`);
  }
  const serverMajor = majorOf(s.versionNum);
  if (clientMajor < serverMajor) {
    problems.push(`pg_basebackup ${clientMajor} cannot back up a PostgreSQL ${serverMajor} server. Install postgresql-client-${serverMajor} or set PG_BIN.`);
  }
  // The worst case is an uncompressible cluster plus the WAL written while it is copied.
  const wanted = s.sizeBytes + 2 * s.walSegmentSize;
  if (!skipSpaceCheck && freeBytes < wanted) {
    problems.push(`The backup directory has ${mb(freeBytes)} free and the cluster holds ${mb(s.sizeBytes)}. Free space, point BACKUP_DIR elsewhere, or pass --skip-space-check if compression will make it fit.`);
  }
  return problems;
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}
