/**
 * The MySQL/MariaDB story: a throw-away MariaDB server started by the demo itself (the server
 * programs from Debian's mariadb-server package; nothing of the machine's own server is used), a
 * shop database with a view, then the kit's real commands on it, and the server removed at the
 * end: backup → list → deep verify → a disaster → restore → proof, as the PostgreSQL story.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openMySql } from '../lib/engines/mysql/client.js';
import { startMariaDbServer, type MariaDbServer } from '../lib/engines/mysql/server.js';
import { backupsShown, kitRunner, say, showCounts, type Counts } from './common.js';

const TABLES = ['customers', 'products', 'orders', 'order_items'];

/** The shop: four InnoDB tables with foreign keys, and a view over them; the same row counts as the PostgreSQL demo's. */
const SHOP_SQL = [
  `CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, name VARCHAR(200) NOT NULL)`,
  `CREATE TABLE products (id INT AUTO_INCREMENT PRIMARY KEY, sku VARCHAR(20) NOT NULL UNIQUE, title VARCHAR(200) NOT NULL, price_cents INT NOT NULL)`,
  `CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, placed_at DATETIME NOT NULL,
     status ENUM('placed', 'paid', 'shipped', 'cancelled') NOT NULL, FOREIGN KEY (customer_id) REFERENCES customers (id))`,
  `CREATE TABLE order_items (order_id INT NOT NULL, product_id INT NOT NULL, quantity INT NOT NULL, PRIMARY KEY (order_id, product_id),
     FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE, FOREIGN KEY (product_id) REFERENCES products (id))`,
  `CREATE VIEW order_totals AS SELECT o.id AS order_id, SUM(i.quantity * p.price_cents) AS total_cents
     FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id GROUP BY o.id`,
  `INSERT INTO customers (email, name) SELECT CONCAT('customer', seq, '@example.test'), CONCAT('Customer ', seq) FROM seq_1_to_500`,
  `INSERT INTO products (sku, title, price_cents) SELECT CONCAT('SKU-', LPAD(seq, 4, '0')), CONCAT('Product ', seq), 100 * seq + 99 FROM seq_1_to_40`,
  `INSERT INTO orders (customer_id, placed_at, status)
     SELECT 1 + seq % 500, TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq * 97 MINUTE, ELT(1 + seq % 4, 'placed', 'paid', 'shipped', 'cancelled') FROM seq_1_to_3000`,
  `INSERT INTO order_items (order_id, product_id, quantity) SELECT o.id, 1 + (o.id + 7 * k.seq) % 40, k.seq FROM orders o CROSS JOIN seq_1_to_2 k`,
];

async function sql<T = Record<string, unknown>>(server: MariaDbServer, database: string, text: string): Promise<T[]> {
  const client = await openMySql(server.target(database));
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

async function counts(server: MariaDbServer): Promise<Counts> {
  const out: Counts = {};
  for (const table of [...TABLES, 'order_totals']) {
    try {
      out[table] = Number((await sql<{ n: string }>(server, 'shop', `SELECT COUNT(*) AS n FROM \`${table}\``))[0]!.n);
    } catch {
      out[table] = 'missing';
    }
  }
  return out;
}

export async function mysqlDemo(): Promise<void> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'pgkit-demo-'));
  let server: MariaDbServer | undefined;
  try {
    say('Starting a throw-away MariaDB server (mariadb-install-db + mariadbd in a temporary directory)');
    server = await startMariaDbServer();
    const version = (await sql<{ v: string }>(server, '', 'SELECT VERSION() AS v'))[0]!.v;
    console.log(`  MariaDB ${version} on 127.0.0.1:${server.port}`);

    say('Creating the shop database: customers, products, orders, order_items, the view order_totals, and data');
    await sql(server, '', 'CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
    for (const statement of SHOP_SQL) await sql(server, 'shop', statement);
    const before = await counts(server);
    showCounts([...TABLES, 'order_totals'], 'data:', before);

    // A mysql:// DATABASE_URL is all the kit needs to know it talks to MySQL/MariaDB.
    const envFile = path.join(scratch, 'demo.env');
    writeFileSync(envFile, `DATABASE_URL=${server.url('shop')}\n`, { mode: 0o600 });
    const kit = kitRunner(envFile);

    await kit('pg-backup', ['demo', 'Before the disaster']);
    await kit('list', [], false);
    await kit('verify', ['--latest', '--deep']);

    say('A disaster: someone runs DELETE FROM order_items without its WHERE clause');
    await sql(server, 'shop', 'DELETE FROM order_items');
    showCounts([...TABLES, 'order_totals'], 'now:', await counts(server));

    await kit('pg-restore', ['--latest', '--type', 'demo', '--force']);

    say('Proof: the data is back');
    const after = await counts(server);
    showCounts([...TABLES, 'order_totals'], 'before:', before);
    showCounts([...TABLES, 'order_totals'], 'after:', after);
    if (![...TABLES, 'order_totals'].every((t) => before[t] === after[t])) throw new Error('the restored row counts differ from the ones before the disaster');
    console.log('  every table has exactly the rows it had before the disaster, and so has the view over them');
    say(`Done. The backups are in ${backupsShown()}/; removing the throw-away MariaDB server.`);
  } finally {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}
