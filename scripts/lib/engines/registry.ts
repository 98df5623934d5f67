/**
 * Which engine serves a backup or a target. Domain code looks its engine up once, here, and then
 * only calls it: adding an engine is a folder beside postgres/ and one entry in ENGINES.
 */
import { KitError } from '../errors.js';
import { DEFAULT_ENGINE, ENGINE_NAMES, type EngineName } from '../format/metadata.js';
import type { Target } from '../config/target.js';
import type { Engine, EngineEnvironment } from './engine.js';
import { postgresEngine } from './postgres/engine.js';
import { mysqlEngine } from './mysql/engine.js';
import { postgresEnvironment } from './postgres/environment.js';
import { mysqlEnvironment } from './mysql/environment.js';

const ENGINES: Record<EngineName, Engine> = {
  postgresql: postgresEngine,
  mysql: mysqlEngine,
};

const ENVIRONMENTS: Record<EngineName, EngineEnvironment> = {
  postgresql: postgresEnvironment,
  mysql: mysqlEnvironment,
};

/** The engine of that name; an unknown name is a clear refusal, never a silent PostgreSQL. */
export function engineFor(name: string = DEFAULT_ENGINE): Engine {
  if (!(ENGINE_NAMES as readonly string[]).includes(name)) {
    throw new KitError('BAD_ARGUMENT', `Unknown database engine "${name}". This kit knows ${ENGINE_NAMES.join(', ')}.`);
  }
  return ENGINES[name as EngineName];
}

/** The engine that made a backup: its .info says so (an older .info without it is PostgreSQL). */
export function engineOf(info: { engine?: string | undefined }): Engine {
  return engineFor(info.engine ?? DEFAULT_ENGINE);
}

/**
 * The engine that serves a target: config/target.ts records it from the URL's scheme (or
 * DB_ENGINE); a target without one is PostgreSQL's.
 */
export function engineForTarget(target: Target): Engine {
  return engineFor(target.engine ?? DEFAULT_ENGINE);
}

/** What an engine says about environments (sync's identity and read-only source, physical backups). */
export function environmentOf(engine: Engine): EngineEnvironment {
  return ENVIRONMENTS[engine.name];
}
