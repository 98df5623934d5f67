// The sample application's first migration: customers, products and their orders.
export const up = (pgm) => {
  pgm.createTable('customers', {
    id: 'id',
    email: { type: 'text', notNull: true, unique: true },
    name: { type: 'text', notNull: true },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.createTable('products', {
    id: 'id',
    sku: { type: 'text', notNull: true, unique: true },
    title: { type: 'text', notNull: true },
    price_cents: { type: 'integer', notNull: true, check: 'price_cents >= 0' },
  });
  pgm.createTable('orders', {
    id: 'id',
    customer_id: { type: 'integer', notNull: true, references: 'customers', onDelete: 'CASCADE' },
    placed_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.createTable('order_items', {
    order_id: { type: 'integer', notNull: true, references: 'orders', onDelete: 'CASCADE', primaryKey: true },
    product_id: { type: 'integer', notNull: true, references: 'products', primaryKey: true },
    quantity: { type: 'integer', notNull: true, check: 'quantity > 0' },
  });
  pgm.createIndex('orders', 'customer_id');
};

export const down = (pgm) => {
  pgm.dropTable('order_items');
  pgm.dropTable('orders');
  pgm.dropTable('products');
  pgm.dropTable('customers');
};
