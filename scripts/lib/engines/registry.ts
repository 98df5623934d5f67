/**
 * Which engine serves a backup or a target. Domain code looks its engine up once, here, and then
 * only calls it: adding an engine is a folder beside postgres/ and one entry in ENGINES.
 */
import { KitError } from '../errors.js';
import { DEFAULT_ENGINE, ENGINE_NAMES, type EngineName } from '../format/metadata.js';
import type { Target } from '../config/target.js';
import type { Engine } from './engine.js';
import { postgresEngine } from './postgres/engine.js';

const ENGINES: Record<EngineName, Engine> = {
  postgresql: postgresEngine,
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
 * The engine that serves a target. Every target is a PostgreSQL connection today (config/target.ts
 * accepts postgresql:// only); a second engine is chosen here, by the URL's scheme, and nowhere else.
 */
export function engineForTarget(_target: Target): Engine {
  return postgresEngine;
}
