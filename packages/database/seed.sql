-- Sample data for the demo and the tests: 500 customers, 40 products, 3000 orders.
INSERT INTO customers (email, name)
  SELECT 'customer' || g || '@example.test', 'Customer ' || g FROM generate_series(1, 500) g;
INSERT INTO products (sku, title, price_cents)
  SELECT 'SKU-' || lpad(g::text, 4, '0'), 'Product ' || g, 100 * g + 99 FROM generate_series(1, 40) g;
INSERT INTO orders (customer_id, placed_at, status)
  SELECT 1 + g % 500, timestamptz '2026-01-01' + g * interval '97 minutes',
         (ARRAY['placed', 'paid', 'shipped', 'cancelled']::order_status[])[1 + g % 4]
    FROM generate_series(1, 3000) g;
INSERT INTO order_items (order_id, product_id, quantity)
  SELECT o.id, 1 + (o.id + 7 * k) % 40, k FROM orders o CROSS JOIN generate_series(1, 2) k;
