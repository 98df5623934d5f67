// Orders get a status, with the existing ones marked as placed.
export const up = (pgm) => {
  pgm.createType('order_status', ['placed', 'paid', 'shipped', 'cancelled']);
  pgm.addColumn('orders', { status: { type: 'order_status', notNull: true, default: 'placed' } });
};

export const down = (pgm) => {
  pgm.dropColumn('orders', 'status');
  pgm.dropType('order_status');
};
