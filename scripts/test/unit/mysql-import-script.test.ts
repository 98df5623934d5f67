import { describe, expect, it } from 'vitest';
import { dumpStatements, loadDataSql } from '../../lib/engines/mysql/import.js';

describe("db:import runs mariadb-dump's schema.sql statement by statement", () => {
  it('follows DELIMITER, keeps conditional comments as code, and skips the client-only sandbox line', () => {
    const script = `/*M!999999\\- enable the sandbox mode */
-- MariaDB dump
/*!40101 SET NAMES utf8mb4 */;
CREATE TABLE \`a;b\` (x TEXT DEFAULT 'x;y');
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=\`admin\`@\`%\`*/ /*!50003 TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = ';;'; SET NEW.b = 1; END */;;
DELIMITER ;
SELECT 2;
`;
    const statements = dumpStatements(Buffer.from(script));
    expect(statements.map((s) => s.replace(/\s+/g, ' '))).toEqual([
      'SET NAMES utf8mb4',
      "CREATE TABLE `a;b` (x TEXT DEFAULT 'x;y')",
      "CREATE DEFINER=`admin`@`%` TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = ';;'; SET NEW.b = 1; END",
      'SELECT 2',
    ]);
  });

  it('loads hex columns through UNHEX and names every column in the file’s order', () => {
    const sql = loadDataSql({ name: '`t`', schema: 'db', table: 't', file: 'data/db.t.csv', rows: 0, bytes: 0, sha256: '', columns: [{ name: 'id', type: 'int(11)' }, { name: 'b`x', type: 'blob', encoding: 'hex' }] });
    expect(sql).toContain("INTO TABLE `t` CHARACTER SET utf8mb4");
    expect(sql).toContain('(`id`, @kit_1) SET `b``x` = UNHEX(@kit_1)');
  });
});
