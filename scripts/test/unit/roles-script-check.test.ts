import { describe, expect, test } from 'vitest';
import { checkMySqlRoles } from '../../lib/engines/mysql/roles.js';
import { checkPostgresRoles } from '../../lib/engines/postgres/roles.js';
import { refuseSwapOnly } from '../../lib/restore/plan.js';
import { engineFor } from '../../lib/engines/registry.js';

describe('a MySQL globals artifact read through', () => {
  const kitWrote = [
    "-- Users that database app needs (…).",
    "-- 'app'@'%'",
    "CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B';",
    "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B';",
    "GRANT SELECT, INSERT ON `app`.* TO `app`@`%`;",
    "CREATE ROLE IF NOT EXISTS `reader`;",
    "GRANT SELECT ON `app`.`t;x` TO `reader`;",
    "-- a comment; with a semicolon",
    '',
  ].join('\n');

  test('counts the accounts it creates and finds nothing foreign', () => {
    expect(checkMySqlRoles(kitWrote)).toEqual({ accounts: 2 });
  });

  test('names a statement the kit never writes, even after a quoted semicolon', () => {
    const changed = kitWrote + "GRANT SELECT ON `a` TO 'x'; DROP DATABASE app;\n";
    const checked = checkMySqlRoles(changed);
    expect(checked.problem).toMatch(/holds a statement the kit does not write \(DROP DATABASE app/);
  });

  test('a statement hidden in a conditional comment is code, and is seen', () => {
    expect(checkMySqlRoles('/*!50003 DROP TABLE t */;\n').problem).toMatch(/DROP TABLE/);
  });

  test('an empty artifact creates nothing and is fine', () => {
    expect(checkMySqlRoles('-- no users\n')).toEqual({ accounts: 0 });
  });
});

describe('a PostgreSQL globals artifact read through', () => {
  test('counts its roles and refuses a foreign statement', () => {
    expect(checkPostgresRoles('CREATE ROLE app;\nALTER ROLE app WITH LOGIN;\n')).toEqual({ accounts: 1 });
    expect(checkPostgresRoles('CREATE ROLE app;\nDROP TABLE t;\n').problem).toMatch(/does not write/);
  });
});

test('--with-roles on a MySQL restore is refused by name before anything, and allowed on PostgreSQL', () => {
  expect(() => refuseSwapOnly({ mode: 'replace', tables: [], jobs: undefined, withRoles: true }, engineFor('mysql'))).toThrow(/--with-roles is not available for MySQL/);
  expect(() => refuseSwapOnly({ mode: 'replace', tables: [], jobs: undefined, withRoles: true }, engineFor('postgresql'))).not.toThrow();
});
