-- An awkward MySQL/MariaDB database for the second engine's tests (issue 22): what a logical
-- dump and restore of a real application schema must carry. Load it with the `mariadb` client
-- into an empty database (routine bodies hold semicolons, so it switches DELIMITER). Users and
-- grants are server-wide and live in support/mariadb.ts (awkwardUsersSql), not here.
SET NAMES utf8mb4;

CREATE TABLE customers (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  email VARCHAR(200) NOT NULL UNIQUE,
  note TEXT,
  created_at DATETIME(6) NOT NULL DEFAULT '2024-01-01 00:00:00.000000',
  balance DECIMAL(12,4) NOT NULL DEFAULT 0,
  ratio DOUBLE,
  status ENUM('active','paused','gone') NOT NULL DEFAULT 'active',
  flags SET('vip','beta','staff') NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO customers (name, email, note, created_at, balance, ratio, status, flags) VALUES
  ('Zoë 🐘 Ångström', 'zoe@example.com', 'emoji 😀🎉 and CJK 漢字, RTL שלום', '2024-02-29 23:59:59.123456', 1234.5678, 0.1, 'active', 'vip,beta'),
  ('O''Brien "quoted" `ticked`', 'obrien@example.com', 'tab\there\nnewline and a backslash \\ and a NUL-free line', '2023-12-31 12:00:00', -0.0001, -1e-300, 'paused', ''),
  ('Empty note', 'empty@example.com', '', '2000-01-01 00:00:00', 0, NULL, 'gone', 'staff'),
  ('Null note', 'null@example.com', NULL, '1999-12-31 23:59:59.999999', 99999999.9999, 1.7976931348623157e308, 'active', 'vip,beta,staff');

CREATE TABLE orders (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id INT UNSIGNED NOT NULL,
  quantity INT NOT NULL,
  unit_price DECIMAL(10,2) NOT NULL,
  total DECIMAL(12,2) AS (quantity * unit_price) STORED,
  label VARCHAR(100) AS (CONCAT('order-', id)) VIRTUAL,
  details JSON CHECK (JSON_VALID(details)),
  CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE ON UPDATE CASCADE,
  KEY orders_total (total)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO orders (customer_id, quantity, unit_price, details) VALUES
  (1, 3, 9.99, '{"gift": true, "tags": ["a", "b"], "note": "🎁 ünïcode"}'),
  (1, 1, 0.01, '{"nested": {"deep": [1, 2, {"x": null}]}}'),
  (2, 10, 100.00, NULL),
  (4, 2, 5.50, '[]');

CREATE TABLE order_lines (
  order_id BIGINT NOT NULL,
  line_no SMALLINT NOT NULL,
  sku VARCHAR(40) NOT NULL,
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT lines_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE
) ENGINE=InnoDB;

INSERT INTO order_lines VALUES (1, 1, 'SKU-1'), (1, 2, 'SKU-2'), (2, 1, 'SKU-3'), (3, 1, 'SKU-1');

CREATE TABLE blobs (
  id INT NOT NULL PRIMARY KEY,
  fixed BINARY(8),
  var_bytes VARBINARY(255),
  content LONGBLOB,
  small TINYBLOB,
  bits BIT(12)
) ENGINE=InnoDB;

INSERT INTO blobs VALUES
  (1, UNHEX('0001020304050607'), UNHEX('00FF00FF0A0D5C27'), REPEAT(UNHEX('00FFFE0A0D1A5C2722'), 20000), UNHEX(''), b'101010101010'),
  (2, NULL, '', NULL, NULL, NULL),
  (3, 'ab', 'text as bytes', 'some bytes \0 with a NUL', UNHEX('80818283'), b'0');

-- No primary key and duplicate rows: nothing identifies a row but its content.
CREATE TABLE event_log (
  happened_at TIMESTAMP(3) NULL,
  level VARCHAR(10),
  message TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO event_log VALUES
  ('2024-05-01 10:00:00.123', 'info', 'started'),
  ('2024-05-01 10:00:00.123', 'info', 'started'),
  (NULL, NULL, NULL),
  ('2024-05-01 10:00:01.000', 'warn', 'disk 90% full; retry in 5 s');

CREATE TABLE places (
  id INT NOT NULL PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  location POINT NOT NULL,
  area POLYGON,
  route LINESTRING,
  SPATIAL INDEX places_location (location)
) ENGINE=InnoDB;

INSERT INTO places VALUES
  (1, 'Origin', ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))'), ST_GeomFromText('LINESTRING(0 0,1 1,2 1)')),
  (2, 'Zürich', ST_GeomFromText('POINT(8.5417 47.3769)'), NULL, NULL);

CREATE TABLE measurements (
  id INT NOT NULL,
  taken_year SMALLINT NOT NULL,
  value DOUBLE NOT NULL,
  PRIMARY KEY (id, taken_year)
) ENGINE=InnoDB
PARTITION BY RANGE (taken_year) (
  PARTITION p_old VALUES LESS THAN (2020),
  PARTITION p_2020s VALUES LESS THAN (2030),
  PARTITION p_future VALUES LESS THAN MAXVALUE
);

INSERT INTO measurements VALUES (1, 2019, 1.5), (2, 2024, 2.25), (3, 2031, -3.125), (4, 2020, 0);

-- Names with spaces, quotes and backticks, for tables, columns, views and routines alike.
CREATE TABLE `odd table ``name`` 'q'` (
  `the id` INT NOT NULL PRIMARY KEY,
  `col "double"` VARCHAR(50),
  `col ``tick```  VARCHAR(50),
  `select` INT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO `odd table ``name`` 'q'` VALUES (1, 'a "b"', 'c `d`', 7), (2, NULL, '🙂', NULL);

CREATE TABLE audit (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  what VARCHAR(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE VIEW customer_totals AS
  SELECT c.id, c.name, COUNT(o.id) AS orders, COALESCE(SUM(o.total), 0) AS spent
  FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name;

CREATE VIEW `big spenders` AS SELECT id, name FROM customer_totals WHERE spent > 20;

CREATE VIEW `odd view` AS SELECT `the id`, `col ``tick``` FROM `odd table ``name`` 'q'`;

DELIMITER //
CREATE FUNCTION order_weight(q INT, p DECIMAL(10,2)) RETURNS DECIMAL(12,2)
  DETERMINISTIC
BEGIN
  DECLARE w DECIMAL(12,2);
  SET w = q * p;
  IF w > 100 THEN SET w = w * 0.9; END IF;
  RETURN w;
END//

CREATE PROCEDURE `close customer`(IN who INT UNSIGNED, OUT removed INT)
BEGIN
  DECLARE n INT DEFAULT 0;
  SELECT COUNT(*) INTO n FROM orders WHERE customer_id = who;
  UPDATE customers SET status = 'gone' WHERE id = who;
  INSERT INTO audit (what) VALUES (CONCAT('closed ', who, '; orders: ', n));
  SET removed = n;
END//

CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW
BEGIN
  INSERT INTO audit (what) VALUES (CONCAT('order ', NEW.id, ' for ', NEW.customer_id));
END//

CREATE TRIGGER customers_email BEFORE UPDATE ON customers FOR EACH ROW
BEGIN
  IF NEW.email <> OLD.email THEN SET NEW.email = LOWER(NEW.email); END IF;
END//
DELIMITER ;

CREATE EVENT purge_event_log
  ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00'
  ON COMPLETION PRESERVE DISABLE
  COMMENT 'keeps the log short; disabled so it never fires in tests'
  DO DELETE FROM event_log WHERE happened_at < NOW() - INTERVAL 30 DAY;

-- Rows written through the trigger, so the audit table has content (and an AUTO_INCREMENT).
INSERT INTO orders (customer_id, quantity, unit_price, details) VALUES (3, 5, 1.00, '{"via": "trigger"}');
