// The sample application's test: the schema it relies on is there and answers its queries.
import pg from 'pg';

const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
try {
  const { rows } = await client.query(`
    SELECT c.id, count(o.id) AS orders, coalesce(sum(oi.quantity * p.price_cents), 0) AS spent_cents
      FROM customers c
      LEFT JOIN orders o ON o.customer_id = c.id AND o.status <> 'cancelled'
      LEFT JOIN order_items oi ON oi.order_id = o.id
      LEFT JOIN products p ON p.id = oi.product_id
     GROUP BY c.id ORDER BY spent_cents DESC LIMIT 3`);
  if (rows.length === 0) throw new Error('no customers');
  console.log(`app test passed: top customer ${rows[0].id} spent ${rows[0].spent_cents} cents`);
} finally {
  await client.end();
}
