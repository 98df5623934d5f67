/**
 * Differential chains: which table can be differential (a timestamp basis column and a primary
 * key), which export the next one follows, and whether it must be a full one instead. Finding
 * and judging are separate: judging is pure.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { KitError } from '../errors.js';
import type { DifferentialConfig } from '../config/schema.js';
import type { ExportMetadata } from '../format/export-metadata.js';
import { openExport } from './source.js';

/** A table as a chain judges it: its columns' types, its primary key (either engine's table satisfies it). */
export interface ChainTableShape {
  name: string;
  schema: string;
  table: string;
  columns: Array<{ name: string; type: string }>;
  primaryKey: string[];
  /** An extension's configuration table (PostgreSQL): exported in full, never by changes. */
  extensionConfig?: boolean | undefined;
}

/** Which column types an engine accepts as a basis column, and how they are named in a refusal. */
export interface BasisTypes {
  accepts(type: string): boolean;
  /** "timestamptz or timestamp"; MySQL: "TIMESTAMP or DATETIME". */
  named: string;
}

export const DEFAULT_BASIS = 'updated_at';
export const DEFAULT_MAX_CHAIN = 7;
export const DEFAULT_MAX_SHARE = 0.5;
const TIMESTAMP_TYPES = ['timestamp with time zone', 'timestamp without time zone'];

/** PostgreSQL's basis columns: timestamptz, or timestamp read in the chain's zone. */
export const POSTGRES_BASIS: BasisTypes = { accepts: (type) => TIMESTAMP_TYPES.includes(type), named: 'timestamptz or timestamp' };

export interface Suitability {
  /** Tables that can be differential, with their basis column and its type. */
  suitable: Map<string, { column: string; type: string }>;
  /** Every table that cannot, with why. */
  unsuitable: Array<{ table: string; reason: string }>;
  /** basis overrides in backup-kit.json naming a table the export does not take. */
  unknown: string[];
}

/** The basis column of each table, checked: it exists, it is a timestamp, the table has a primary key. */
export function judgeTables(tables: ChainTableShape[], config: DifferentialConfig, basisTypes: BasisTypes = POSTGRES_BASIS): Suitability {
  const overrides = config.basis ?? {};
  const suitable = new Map<string, { column: string; type: string }>();
  const unsuitable: Suitability['unsuitable'] = [];
  for (const t of tables) {
    // An extension's configuration table holds the extension's rows beside the user's: it goes
    // in full (its filtered rows) in every export of the chain, never by changes.
    if (t.extensionConfig) continue;
    const column = overrides[t.name] ?? overrides[`${t.schema}.${t.table}`] ?? DEFAULT_BASIS;
    const found = t.columns.find((c) => c.name === column);
    if (t.primaryKey.length === 0) unsuitable.push({ table: t.name, reason: 'has no primary key (deleted rows could not be told apart)' });
    else if (!found) unsuitable.push({ table: t.name, reason: `has no column ${column}` });
    else if (!basisTypes.accepts(found.type)) unsuitable.push({ table: t.name, reason: `its basis column ${column} is ${found.type}, not ${basisTypes.named}` });
    else suitable.set(t.name, { column, type: found.type });
  }
  const unknown = Object.keys(overrides).filter((key) => !tables.some((t) => key === t.name || key === `${t.schema}.${t.table}`));
  return { suitable, unsuitable, unknown };
}

export function unsuitableError(judged: Suitability, basisTypes: BasisTypes = POSTGRES_BASIS): KitError {
  const lines = [
    ...judged.unsuitable.map((u) => `${u.table} ${u.reason}`),
    ...judged.unknown.map((k) => `backup-kit.json export.differential.basis names ${k}, which this export does not take`),
  ];
  return new KitError(
    'DIFFERENTIAL_UNSUITABLE',
    `These tables cannot be exported as differentials:\n  ${lines.join('\n  ')}\n` +
      `Give each a ${basisTypes.named} column the application sets on every insert and update ` +
      '(name it in backup-kit.json export.differential.basis, e.g. { "app.orders": "modified_at" }) and a primary key, ' +
      'or pass --skip-unsuitable to export those tables in full every time. Nothing was exported.',
  );
}

export interface ChainMember {
  location: string;
  metadata: ExportMetadata & { chain: NonNullable<ExportMetadata['chain']> };
}

function sameScope(a: ExportMetadata['scope'], b: ExportMetadata['scope']): boolean {
  const key = (s: ExportMetadata['scope']) => JSON.stringify([[...s.tables].sort(), [...s.schemas].sort(), [...s.excludeTables].sort()]);
  return key(a) === key(b);
}

/** Every complete chain export in the environment's directory (directories and zips), oldest first. */
export async function chainMembers(envDir: string): Promise<ChainMember[]> {
  if (!existsSync(envDir)) return [];
  const out: ChainMember[] = [];
  for (const name of readdirSync(envDir)) {
    if (!name.includes('export') || name.endsWith('.partial') || name.startsWith('.')) continue;
    const location = path.join(envDir, name);
    const isDir = statSync(location).isDirectory();
    if (isDir ? !existsSync(path.join(location, 'metadata.json')) : !name.endsWith('.zip')) continue;
    try {
      const source = await openExport(location, envDir, envDir);
      source.close();
      if (source.metadata.chain) out.push({ location, metadata: source.metadata as ChainMember['metadata'] });
    } catch {
      // not a complete export: listing and verify report those; a chain only follows complete ones
    }
  }
  return out.sort((a, b) => a.metadata.chain.upperBound.localeCompare(b.metadata.chain.upperBound) || a.metadata.chain.position - b.metadata.chain.position);
}

/** The newest chain export taken with the same scope: what the next differential follows. */
export function latestMember(members: ChainMember[], scope: ExportMetadata['scope']): ChainMember | undefined {
  return members.filter((m) => sameScope(m.metadata.scope, scope)).at(-1);
}

export interface ChainDecision {
  /** The export the differential follows, or undefined: take a full export that starts a chain. */
  parent: ChainMember | undefined;
  /** Why a full export, when one is taken although a chain exists. */
  reason: string | undefined;
}

type Shape = [string, unknown, string[], string | null];

function shapeText(rows: Shape[]): string {
  return JSON.stringify([...rows].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)));
}

/** Differential or full: a full one when there is no chain, it is long enough, or the tables changed. */
export function decideChain(
  latest: ChainMember | undefined,
  now: { tables: ChainTableShape[]; judged: Suitability; timeZone: string; maxChain: number; newChain: boolean },
): ChainDecision {
  if (now.newChain) return { parent: undefined, reason: '--new-chain was given' };
  if (!latest) return { parent: undefined, reason: 'there is no earlier chain export of this scope to follow' };
  const chain = latest.metadata.chain;
  if (chain.position + 1 > now.maxChain) return { parent: undefined, reason: `the chain of ${chain.base} already has ${chain.position} differentials (export.differential.maxChain is ${now.maxChain})` };
  if (chain.timeZone !== now.timeZone) return { parent: undefined, reason: `timestamp basis columns are now read in ${now.timeZone}, the chain read them in ${chain.timeZone}` };
  const shapeNow = shapeText(now.tables.map((t): Shape => [t.name, t.columns, t.primaryKey, now.judged.suitable.get(t.name)?.column ?? null]));
  const shapeThen = shapeText(latest.metadata.tables.map((t): Shape => [t.name, t.columns, t.chain?.primaryKey ?? [], t.chain?.basis?.column ?? null]));
  if (shapeNow !== shapeThen) return { parent: undefined, reason: `the tables, their columns, primary keys or basis columns changed since ${latest.metadata.id}` };
  return { parent: latest, reason: undefined };
}
