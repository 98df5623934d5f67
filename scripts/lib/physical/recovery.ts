/**
 * What a restored data directory is told about recovery: pure text builders, unit-tested.
 * Everything goes into postgresql.auto.conf (read last, so it wins over postgresql.conf), then the
 * user's --config overrides after it.
 */

export type RecoveryTarget =
  | { kind: 'latest' }
  | { kind: 'time'; value: string }
  | { kind: 'lsn'; value: string }
  | { kind: 'immediate' };

export interface RecoverySettingsInput {
  id: string;
  /** restore_command: localRestoreCommand() or kitRestoreCommand(). */
  restoreCommand: string;
  target: RecoveryTarget;
  standby: { conninfo: string } | undefined;
  /** A test restore must never archive into the production archive. */
  keepArchiving: boolean;
  at: Date;
}

/** A value in postgresql.conf syntax: single quotes, a quote doubled. */
export function confValue(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * A timestamp the server reads while it starts: time zone abbreviations ("Z", "UTC") are not
 * loaded yet at that point, so a trailing Z becomes +00. Digits are kept as given (microseconds).
 */
export function pgTimestamp(value: string): string {
  return value.trim().replace(/^(\d{4}-\d{2}-\d{2})T/, '$1 ').replace(/\s*(Z|UTC)$/i, '+00');
}

/** A value quoted for /bin/sh. */
function sh(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** restore_command that copies from the local archive. */
export function localRestoreCommand(walArchive: string): string {
  const dir = walArchive.replace(/'/g, `'\\''`);
  return `cp '${dir}/%f' '%p'`;
}

/**
 * restore_command that runs the kit's wal-fetch (local archive first, then the remote). Exit 17
 * means "not in the archive", which recovery takes as the end of the archive; any other failure
 * (the store unreachable, a damaged segment) becomes exit 126, which makes PostgreSQL stop
 * recovery instead of ending it early and opening at an earlier moment than asked. A standby
 * keeps PostgreSQL's own reading (it retries, and streams from the primary meanwhile).
 */
export function kitRestoreCommand(p: { node: string; launcher: string; project: string; environment: string; remote?: string | undefined; endpoint?: string | undefined; stopRecoveryOnError: boolean; localFirst?: string | undefined }): string {
  const extra = [...(p.remote ? ['--remote', sh(p.remote)] : []), ...(p.endpoint ? ['--endpoint', sh(p.endpoint)] : [])];
  const run = [sh(p.node), sh(p.launcher), 'wal-fetch', '%f', '%p', '--quiet', '--project', sh(p.project), '--env', sh(p.environment), ...extra].join(' ');
  const kit = p.stopRecoveryOnError ? `${run}; s=$?; [ $s -eq 0 ] || [ $s -eq 17 ] && exit $s; exit 126` : run;
  // A file the local archive holds is copied without starting the kit at all.
  return p.localFirst ? `${localRestoreCommand(p.localFirst)} 2>/dev/null || { ${kit}; }` : kit;
}

export function recoverySettings(input: RecoverySettingsInput): Record<string, string> {
  const settings: Record<string, string> = { restore_command: input.restoreCommand, recovery_target_timeline: 'latest' };
  if (input.standby) {
    settings.primary_conninfo = input.standby.conninfo;
  } else {
    if (input.target.kind === 'time') settings.recovery_target_time = pgTimestamp(input.target.value);
    if (input.target.kind === 'lsn') settings.recovery_target_lsn = input.target.value;
    if (input.target.kind === 'immediate') settings.recovery_target = 'immediate';
    settings.recovery_target_action = 'promote';
  }
  if (!input.keepArchiving) settings.archive_mode = 'off';
  return settings;
}

export function autoConfBlock(input: RecoverySettingsInput, settings: Record<string, string>): string {
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${confValue(v)}`);
  return `\n# Restored by pg-backup-kit from ${input.id} at ${input.at.toISOString()}\n${lines.join('\n')}\n`;
}

/** libpq conninfo for a standby: never a password (that goes into a passfile beside it). */
export function primaryConninfo(p: { host: string; port: number; user: string; passfile: string | undefined; applicationName: string; params: Record<string, string> }): string {
  const q = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const parts = [`host=${q(p.host)}`, `port=${p.port}`, `user=${q(p.user)}`, `application_name=${q(p.applicationName)}`];
  if (p.passfile) parts.push(`passfile=${q(p.passfile)}`);
  for (const key of ['sslmode', 'sslrootcert', 'sslcert', 'sslkey']) if (p.params[key]) parts.push(`${key}=${q(p.params[key]!)}`);
  return parts.join(' ');
}

/** The line of a server log that says why recovery stopped, classified. */
export function classifyRecoveryLog(log: string): { notReached: boolean; reason: string; unusableWal?: string } {
  const lines = log.split('\n');
  // restore_command through the kit: its own words say why a WAL file could not be had
  // ("not in the archive" is routine and says nothing about the failure).
  const fetch = lines.filter((l) => /^wal-fetch: error: /.test(l) && !/is not in the archive/.test(l)).at(-1)?.replace(/^wal-fetch: error: /, '');
  const notReached = lines.find((l) => /recovery ended before configured recovery target was reached/.test(l));
  if (notReached) return { notReached: true, reason: notReached.replace(/^.*?(FATAL|PANIC|LOG):\s*/, ''), ...(fetch ? { unusableWal: fetch } : {}) };
  const fatal = lines.filter((l) => /\b(FATAL|PANIC)\b/.test(l)).at(-1);
  // "configuration file … contains errors" is said last; the line before names the setting.
  const setting = lines.filter((l) => /invalid value for parameter|unrecognized configuration parameter|syntax error in file/.test(l)).at(-1);
  const strip = (l: string) => l.replace(/^.*?(FATAL|PANIC|LOG|ERROR):\s*/, '');
  const reason = strip(fatal ?? lines.filter((l) => l.trim()).at(-1) ?? 'no log output');
  if (fetch) return { notReached: false, reason: `${reason}; wal-fetch said: ${fetch}`, unusableWal: fetch };
  return { notReached: false, reason: setting ? `${reason}: ${strip(setting)}` : reason };
}

/**
 * PostgreSQL's words when a WAL record it read is not whole or not right (xlogreader.c). In an
 * archive recovery they also end the WAL at a partial last segment, so on their own they prove
 * nothing: the caller asks whether the archive holds WAL past that point.
 */
const BAD_RECORD = /\b(incorrect resource manager data checksum|invalid magic number|invalid info bits|invalid record length|invalid resource manager ID|record with incorrect prev-link|unexpected pageaddr|invalid contrecord length|missing contrecord|record length \d+ at \S+ too long)\b.*?(?:\bat ([0-9A-F]+\/[0-9A-F]+)|\bin log segment ([0-9A-F]{24}))/;

/** The last record recovery could not read, why, and where (an LSN, or a segment's name), from the server's log. */
export function unreadableRecordIn(log: string): { what: string; lsn?: string; segment?: string } | undefined {
  const line = log.split('\n').filter((l) => BAD_RECORD.test(l)).at(-1);
  const match = line ? BAD_RECORD.exec(line) : null;
  if (!match) return undefined;
  return { what: match[1]!, ...(match[2] ? { lsn: match[2] } : { segment: match[3]! }) };
}
