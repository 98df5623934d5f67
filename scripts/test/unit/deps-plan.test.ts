import { describe, expect, it } from 'vitest';
import { planInstall } from '../../lib/deps/deps.js';

describe('planInstall: what db:deps --install runs, as argument arrays', () => {
  it.each([
    ['linux', [16], true, false, true, false, [['apt-get', 'update'], ['apt-get', 'install', '-y', 'postgresql-client-16']], true],
    ['linux', [15, 17], true, false, false, true, [['sudo', 'apt-get', 'update'], ['sudo', 'apt-get', 'install', '-y', 'postgresql-client-15', 'postgresql-client-17']], true],
    ['linux', [16], true, false, false, false, [['sudo', 'apt-get', 'update'], ['sudo', 'apt-get', 'install', '-y', 'postgresql-client-16']], false],
    ['darwin', [17], false, true, false, false, [['brew', 'install', 'postgresql@17']], true],
    ['linux', [], true, false, true, false, [], true],
  ] as const)('%s %j (apt %s, brew %s, root %s, sudo %s)', (platform, majors, apt, brew, root, sudo, steps, runnable) => {
    const plan = planInstall(platform, [...majors], apt, brew, root, sudo);
    expect(plan.steps).toEqual(steps);
    expect(plan.commands).toEqual(steps.map((s) => s.join(' ')));
    expect(plan.runnable).toBe(runnable);
  });

  it.each([
    ['linux', [16], true, false, true, [['apt-get', 'update'], ['apt-get', 'install', '-y', 'postgresql-client-16', 'mariadb-client']]],
    ['linux', [], true, false, false, [['sudo', 'apt-get', 'update'], ['sudo', 'apt-get', 'install', '-y', 'mariadb-client']]],
    ['darwin', [], false, true, false, [['brew', 'install', 'mariadb']]],
  ] as const)('with a MySQL/MariaDB environment: %s %j (apt %s, brew %s, root %s)', (platform, majors, apt, brew, root, steps) => {
    const plan = planInstall(platform, [...majors], apt, brew, root, true, [{ apt: 'mariadb-client', brew: 'mariadb', label: 'MySQL/MariaDB' }]);
    expect(plan.steps).toEqual(steps);
  });

  it('without a known package manager prints advice for each engine and runs nothing', () => {
    const plan = planInstall('linux', [16], false, false, true, false, [{ apt: 'mariadb-client', brew: 'mariadb', label: 'MySQL/MariaDB' }]);
    expect(plan.steps).toEqual([]);
    expect(plan.commands).toEqual(["# install the PostgreSQL 16 client programs with your system's package manager", "# install the MySQL/MariaDB client programs with your system's package manager"]);
  });

  it('without a known package manager prints advice and runs nothing', () => {
    const plan = planInstall('linux', [16], false, false, true, false);
    expect(plan.steps).toEqual([]);
    expect(plan.runnable).toBe(false);
    expect(plan.commands[0]).toMatch(/PostgreSQL 16 client programs/);
  });
});
