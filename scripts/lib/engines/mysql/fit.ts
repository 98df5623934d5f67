/**
 * Whether a MySQL/MariaDB dump program fits the server it is to dump. Pure.
 *
 * A dump written by a client older than the server can lose what the server has and the client
 * does not know (new column options, system-versioned tables, sequences' settings), and such a
 * dump restores "successfully" into something else: refused, as PostgreSQL's pg_dump is. The two
 * servers have parted ways: MySQL's mysqldump 8 asks MariaDB for tables it does not have
 * (COLUMN_STATISTICS) and does not know its sequences, and MariaDB's client does not speak
 * MySQL 8's data dictionary and default authentication: each flavour is dumped with its own.
 */
import type { ServerFlavour } from '../../format/metadata.js';

export interface ReleaseOf {
  flavour: ServerFlavour;
  /** major.minor.patch; undefined when the program did not say. */
  release: string | undefined;
}

/** "10.11.6" → [10, 11]; undefined for text without a major.minor. */
export function majorMinor(release: string | undefined): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release ?? '');
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function olderThan(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

const PACKAGE: Record<ServerFlavour, (series: string) => string> = {
  MariaDB: (series) => `the MariaDB client programs of release ${series} or newer (Debian/Ubuntu: apt-get install mariadb-client; elsewhere MariaDB's own repository for ${series})`,
  MySQL: (series) => `MySQL's client programs of release ${series} or newer (mysql-client / mysql-community-client ${series}, from MySQL's own repository)`,
};

/**
 * Why `program` (mariadb-dump or mysqldump, as `tool`) cannot dump `server` safely, or undefined
 * when it can. A program whose release cannot be read is given the benefit of the doubt.
 */
export function dumpToolProblem(program: string, tool: ReleaseOf, server: ReleaseOf): string | undefined {
  const serverSeries = majorMinor(server.release);
  const series = serverSeries ? serverSeries.join('.') : (server.release ?? '');
  const install = `Install ${PACKAGE[server.flavour](series)}, and make it the first ${program === 'mariadb-dump' ? 'mariadb-dump (or mysqldump)' : program} on PATH.`;
  if (tool.flavour !== server.flavour) {
    // MariaDB's client still reads MySQL up to 5.7, whose catalog MariaDB shares; not 8's.
    const tolerated = tool.flavour === 'MariaDB' && server.flavour === 'MySQL' && serverSeries !== undefined && serverSeries[0] < 8;
    if (!tolerated) return `${program} is ${tool.flavour}'s (${tool.release ?? 'release unknown'}), and the server is ${server.flavour} ${server.release ?? ''}: its dump would be incomplete or fail. ${install}`.replace(' :', ':');
    return undefined;
  }
  const toolSeries = majorMinor(tool.release);
  if (!toolSeries || !serverSeries) return undefined;
  if (olderThan(toolSeries, serverSeries)) {
    return `${program} ${tool.release} is older than the server (${server.flavour} ${server.release}) and may leave out what this server has that it does not know. ${install}`;
  }
  return undefined;
}
