import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { engineFor, engineOf, environmentOf } from '../../lib/engines/registry.js';
import type { Target } from '../../lib/config/target.js';
import { compareStatistics, type Statistics } from '../../lib/engines/statistics.js';

const lib = path.resolve(import.meta.dirname, '../../lib');

describe('the engine registry', () => {
  it('gives PostgreSQL for a .info that names it, and for an older one that names nothing', () => {
    expect(engineOf({ engine: 'postgresql' }).name).toBe('postgresql');
    expect(engineOf({}).name).toBe('postgresql');
    expect(engineFor().label).toBe('PostgreSQL');
  });

  it('refuses an engine it does not know, naming the ones it does', () => {
    expect(() => engineFor('oracle')).toThrow(/Unknown database engine "oracle".*postgresql, mysql/);
  });

  it('gives the MySQL/MariaDB engine for a .info that names mysql', () => {
    expect(engineOf({ engine: 'mysql' }).name).toBe('mysql');
  });

  it('db:sql reads each engine\'s SQL in its own dialect, and exports through the engine where psql\'s COPY does not serve', () => {
    expect([engineFor('postgresql').sqlDialect, engineFor('mysql').sqlDialect]).toEqual(['postgresql', 'mysql']);
    expect(engineFor('postgresql').csvExport).toBeUndefined();
    expect(engineFor('mysql').csvExport?.open).toBeTypeOf('function');
    expect(engineFor('mysql').csvExport?.load).toBeTypeOf('function');
  });

  it.each(['postgresql', 'mysql'])('the %s engine answers every member of the seam', (name) => {
    const engine = engineFor(name);
    for (const member of ['restoreIntoScratch', 'readBack', 'compareStatistics', 'serverGone', 'locateTool', 'copyToFile', 'emptyDatabase', 'lockTimeoutError', 'restoreInTransaction', 'restoreBySwap', 'repairLeftovers', 'adminConnection', 'checkExtensionsAvailable', 'readToc', 'readArchiveData', 'readScript', 'howScriptEnds', 'quoteIdentifier', 'dump', 'runStatements', 'openDrop'] as const) {
      expect(engine[member], member).toBeTypeOf('function');
    }
  });
});

describe('what each engine says about environments', () => {
  const target: Target = { host: 'h', port: 1, user: 'u', password: 'p', database: 'd', params: { sslmode: 'require' }, env: 'prod', source: 'test', protected: false };

  it.each(['postgresql', 'mysql'])('the %s engine answers every member', (name) => {
    const seam = environmentOf(engineFor(name));
    expect(seam.readOnly).toBeTypeOf('function');
    expect(seam.databaseIdentity).toBeTypeOf('function');
    expect(seam.toolCopies).toBeTypeOf('function');
    expect(typeof seam.physicalBackups).toBe('boolean');
    expect(seam.clientTools.length).toBeGreaterThan(0);
  });

  it('PostgreSQL opens a source read-only for every session; its settings are kept', () => {
    const readOnly = environmentOf(engineFor('postgresql')).readOnly({ ...target, params: { ...target.params, options: '-c search_path=app' } });
    expect(readOnly.params).toEqual({ sslmode: 'require', options: '-c search_path=app -c default_transaction_read_only=on' });
  });

  it('physical backups are PostgreSQL\'s alone; each engine names its own client programs', () => {
    expect(environmentOf(engineFor('postgresql'))).toMatchObject({ physicalBackups: true, clientTools: ['pg_dump', 'pg_restore', 'psql'] });
    expect(environmentOf(engineFor('mysql'))).toMatchObject({ physicalBackups: false, clientTools: ['mariadb-dump', 'mariadb'], clientPackage: { apt: 'mariadb-client' } });
  });
});

describe('deep verify reaches the database only through the engine', () => {
  it('verify/verify.ts imports neither restore/ nor engines/postgres/', () => {
    const text = readFileSync(path.join(lib, 'verify/verify.ts'), 'utf8');
    const imports = [...text.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]!);
    expect(imports.filter((i) => i.startsWith('../restore/') || i.startsWith('../engines/postgres/'))).toEqual([]);
    expect(imports).toContain('../engines/registry.js');
  });
});

/** Domain folders that reach PostgreSQL only through the Engine interface (engines/engine.ts, engines/registry.ts). */
const ENGINE_BLIND = ['restore', 'verify', 'sql', 'drop', 'sync'];

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** Every module a source names: import/export … from '…', import('…'), import '…'. */
function specifiersIn(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

/** The specifiers of a source at `file` that resolve into an engine's own folder (engines/postgres/, engines/mysql/). */
function leaksIn(file: string, text = readFileSync(file, 'utf8')): string[] {
  const engines = ['postgres', 'mysql'].map((name) => path.join(lib, 'engines', name) + path.sep);
  return specifiersIn(text).filter((spec) => spec.startsWith('.') && engines.some((folder) => path.resolve(path.dirname(file), spec).startsWith(folder)));
}

describe('the engine seam holds in the domain folders', () => {
  it(`${ENGINE_BLIND.join(', ')} import nothing from engines/postgres/ or engines/mysql/`, () => {
    const files = ENGINE_BLIND.flatMap((folder) => sourcesUnder(path.join(lib, folder)));
    expect(files.length).toBeGreaterThanOrEqual(ENGINE_BLIND.length);
    expect(files.flatMap((file) => leaksIn(file).map((spec) => `${path.relative(lib, file)} imports ${spec}`))).toEqual([]);
  });

  it('the check sees a static import, a re-export and a dynamic import, from any depth, and lets the seam through', () => {
    const text = `import { a } from '../engines/postgres/swap.js';\nexport { b } from "../engines/postgres/apply.js";\nawait import('../engines/postgres/tools.js');\nimport type { C } from '../engines/engine.js';`;
    expect(leaksIn(path.join(lib, 'restore', 'probe.ts'), text)).toEqual(['../engines/postgres/swap.js', '../engines/postgres/apply.js', '../engines/postgres/tools.js']);
    expect(leaksIn(path.join(lib, 'sql', 'deep', 'probe.ts'), `import { ident } from '../../engines/postgres/quote.js';`)).toEqual(['../../engines/postgres/quote.js']);
    expect(leaksIn(path.join(lib, 'restore', 'probe.ts'), `import { engineFor } from '../engines/registry.js';`)).toEqual([]);
    expect(leaksIn(path.join(lib, 'verify', 'probe.ts'), `import { openMySql } from '../engines/mysql/client.js';`)).toEqual(['../engines/mysql/client.js']);
  });
});

const recorded: Statistics = {
  tables: { 'public.a': { rows: 2, fingerprint: 'x' }, 'public.b': { rows: 1, fingerprint: 'y' } },
  sequences: { 'public.s': { value: '7', isCalled: true } },
};

describe('compareStatistics', () => {
  it.each([
    ['the same copy', recorded, []],
    ['a table missing', { ...recorded, tables: { 'public.a': recorded.tables['public.a']! } }, ['table public.b is missing from the restored copy']],
    ['a row short', { ...recorded, tables: { ...recorded.tables, 'public.a': { rows: 1, fingerprint: 'x' } } }, ['table public.a: the backup recorded 2 rows, the restored copy has 1']],
    ['changed content', { ...recorded, tables: { ...recorded.tables, 'public.b': { rows: 1, fingerprint: 'z' } } }, ['table public.b: 1 rows as recorded, but their content differs (fingerprint z, recorded y)']],
    ['an extra table', { ...recorded, tables: { ...recorded.tables, 'public.c': { rows: 0, fingerprint: '' } } }, ["table public.c is in the restored copy but not in the backup's statistics"]],
    ['a sequence behind', { ...recorded, sequences: { 'public.s': { value: '6', isCalled: true } } }, ['sequence public.s: the backup recorded 7, the restored copy has 6']],
    ['a sequence gone', { ...recorded, sequences: {} }, ['sequence public.s: the backup recorded 7, the restored copy has none']],
  ])('%s', (_name, actual, problems) => {
    expect(compareStatistics(recorded, actual)).toEqual(problems);
  });
});
