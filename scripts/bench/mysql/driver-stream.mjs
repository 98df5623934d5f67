// One driver streaming one large result, in a process of its own so its peak RSS is its own:
// `node driver-stream.mjs mysql2|mariadb <table>`, connection from BENCH_MYSQL_* in the
// environment (never argv). Prints {"rows": n, "ms": t, "maxRssBytes": b} on stdout.
//
// Both drivers are set up as the kit sets up mysql2 (scripts/lib/engines/mysql/client.ts): dates
// as the server's text, big integers and decimals as exact strings, rows as objects, the result
// streamed row by row with back-pressure rather than buffered. Plain JavaScript, so no bundling
// or TypeScript loader adds to the start-up or the memory measured.
import { env, argv, stdout, exit, resourceUsage } from 'node:process';

const [driver, table] = argv.slice(2);
if (!['mysql2', 'mariadb'].includes(driver ?? '') || !/^\w+$/.test(table ?? '')) {
  process.stderr.write('usage: node driver-stream.mjs mysql2|mariadb <table>\n');
  exit(2);
}
const connection = { host: env.BENCH_MYSQL_HOST, port: Number(env.BENCH_MYSQL_PORT), user: env.BENCH_MYSQL_USER, password: env.BENCH_MYSQL_PASSWORD, database: env.BENCH_MYSQL_DATABASE };
const sql = `SELECT * FROM \`${table}\``;

async function withMysql2(onRow) {
  const mysql = (await import('mysql2')).default;
  const conn = mysql.createConnection({ ...connection, charset: 'utf8mb4_general_ci', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, decimalNumbers: false, timezone: 'Z' });
  try {
    for await (const row of conn.query(sql).stream({ highWaterMark: 256 })) onRow(row);
  } finally {
    await new Promise((resolve) => conn.end(resolve));
  }
}

async function withMariadb(onRow) {
  const mariadb = (await import('mariadb')).default;
  const conn = await mariadb.createConnection({ ...connection, charset: 'utf8mb4', dateStrings: true, bigIntAsNumber: false, decimalAsNumber: false, supportBigNumbers: true, bigNumberStrings: true, timezone: 'Z' });
  try {
    for await (const row of conn.queryStream(sql)) onRow(row);
  } finally {
    await conn.end();
  }
}

let rows = 0;
let bytes = 0;
// Touch every value, as a consumer would, so no driver gains by leaving rows unread.
const onRow = (row) => {
  rows++;
  for (const value of Object.values(row)) if (value !== null) bytes += typeof value === 'string' ? value.length : Buffer.isBuffer(value) ? value.length : 8;
};
const began = performance.now();
await (driver === 'mysql2' ? withMysql2 : withMariadb)(onRow);
const ms = performance.now() - began;
stdout.write(JSON.stringify({ rows, bytes, ms, maxRssBytes: resourceUsage().maxRSS * 1024 }) + '\n');
