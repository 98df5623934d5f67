/**
 * Which exports of a directory say they belong to one chain, and whether each can be believed.
 * An export claims a place in the chain of `base` by its .info (`chain.base`) or by its
 * metadata.json (`chain.base`, position > 0); a claim is believed only when metadata.json (or the
 * zip holding it) matches what the export's .sha256 and .info recorded. Linking the believed
 * claims from the base is pure: a claim that cannot be linked breaks the chain instead of being
 * passed over, so a restore never stops short of a link that is there.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KitError } from '../errors.js';
import { readExportMetadata, type ExportMetadata } from '../format/export-metadata.js';
import type { BackupInfo } from '../format/metadata.js';
import { stemOf, typeOfStem } from '../format/naming.js';
import { PARTIAL_SUFFIX } from '../store/catalog.js';
import { sha256File } from '../store/files.js';
import { readInfoAt } from '../store/local.js';
import type { ChainMember } from './chain.js';
import { openZip } from './zip.js';

export interface ChainLink {
  id: string;
  /** Set when the link can be believed: its metadata.json matched its .sha256 and .info. */
  member: ChainMember | undefined;
  /** Why it cannot be believed (missing files, a checksum that differs, unreadable metadata). */
  problem: string | undefined;
}

/** The sha256 each file of `<id>.sha256` records (sha256sum's format), by its name. */
function manifestOf(envDir: string, id: string): Map<string, string> | undefined {
  const file = path.join(envDir, `${id}.sha256`);
  if (!existsSync(file)) return undefined;
  const out = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(.+)$/.exec(line.trim());
    if (m) out.set(m[2]!, m[1]!.toLowerCase());
  }
  return out;
}

async function zipMetadataText(zip: string): Promise<string | undefined> {
  try {
    const reader = await openZip(zip);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await reader.open('metadata.json')) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    } finally {
      reader.close();
    }
  } catch {
    return undefined;
  }
}

interface Evidence {
  id: string;
  location: string | undefined;
  info: BackupInfo | undefined;
  metaText: string | undefined;
  meta: ExportMetadata | undefined;
}

async function evidenceOf(envDir: string, id: string): Promise<Evidence> {
  const dir = path.join(envDir, id);
  const zip = path.join(envDir, `${id}.zip`);
  const location = existsSync(dir) && statSync(dir).isDirectory() ? dir : existsSync(zip) ? zip : undefined;
  const infoFile = path.join(envDir, `${id}.info`);
  const reading = existsSync(infoFile) ? readInfoAt(infoFile) : undefined;
  const info = reading?.ok && reading.info.id === id ? reading.info : undefined;
  let metaText: string | undefined;
  if (location === dir) metaText = await readFile(path.join(dir, 'metadata.json'), 'utf8').catch(() => undefined);
  else if (location === zip) metaText = await zipMetadataText(zip);
  return { id, location, info, metaText, meta: metaText === undefined ? undefined : readExportMetadata(metaText) };
}

/** The file whose checksum vouches for metadata.json, and the sha256 it has now. */
async function vouchingFile(e: Evidence): Promise<{ name: string; sha256: string }> {
  if (e.location!.endsWith('.zip')) return { name: `${e.id}.zip`, sha256: (await sha256File(e.location!)).sha256 };
  return { name: `${e.id}/metadata.json`, sha256: createHash('sha256').update(e.metaText!).digest('hex') };
}

/** Why a claimed link cannot be believed, or undefined when it can. */
async function problemOf(envDir: string, e: Evidence): Promise<string | undefined> {
  if (!e.location) return 'its export (directory or .zip) is missing';
  if (e.metaText === undefined) return 'its metadata.json cannot be read';
  const file = await vouchingFile(e);
  const manifest = manifestOf(envDir, e.id)?.get(file.name);
  const recorded = e.info?.artifacts.find((a) => a.file === file.name)?.sha256;
  if (manifest === undefined && recorded === undefined) return `neither its .sha256 nor its .info records a checksum of ${file.name}, so its place in the chain cannot be checked`;
  if (manifest !== undefined && manifest !== file.sha256) return `${file.name} differs from what its .sha256 records (edited or damaged)`;
  if (recorded !== undefined && recorded !== file.sha256) return `${file.name} differs from what its .info records (edited or damaged)`;
  if (!e.meta?.chain) return 'its metadata.json cannot be read as a differential export';
  if (e.info?.chain && e.info.chain.parent !== e.meta.chain.parent) return `its .info follows ${e.info.chain.parent}, its metadata.json ${e.meta.chain.parent}`;
  return undefined;
}

/** Every export in `envDir` that claims a place after `base` in its chain, each judged. */
export async function chainLinks(envDir: string, base: string): Promise<ChainLink[]> {
  if (!existsSync(envDir)) return [];
  const ids = new Set<string>();
  for (const name of readdirSync(envDir)) {
    const id = stemOf(name);
    if (id && id !== base && typeOfStem(id) === 'export' && !name.endsWith(PARTIAL_SUFFIX)) ids.add(id);
  }
  const links: ChainLink[] = [];
  for (const id of [...ids].sort()) {
    const e = await evidenceOf(envDir, id);
    const claims = e.info?.chain?.base === base || (e.meta?.chain?.base === base && e.meta.chain.position > 0);
    if (!claims) continue;
    const problem = await problemOf(envDir, e);
    const member = problem === undefined ? { location: e.location!, metadata: e.meta as ChainMember['metadata'] } : undefined;
    links.push({ id, member, problem });
  }
  return links;
}

function describeUnlinked(link: ChainLink, links: ChainLink[], where: string): string {
  if (link.problem) return `${link.id} cannot be believed: ${link.problem}`;
  const chain = link.member!.metadata.chain;
  const parent = links.find((l) => l.id === chain.parent);
  const state = parent?.problem ? 'cannot be believed' : parent ? 'does not link either' : `is not in ${where}`;
  return `${link.id} is differential ${chain.position}, following ${chain.parent}, which ${state}`;
}

/**
 * The differentials of `base`'s chain from the first up to `until` (an id, or "latest"), linked
 * by position and parent. "latest" is the end of the chain only when every claimed link is in
 * it; an id must be reached through believed links. Otherwise CHAIN_BROKEN names each link
 * that does not fit. Pure.
 */
export function linkChain(base: string, links: ChainLink[], until: string, where: string): ChainMember[] {
  const chain: ChainMember[] = [];
  for (let position = 1; ; position++) {
    const parent = chain.at(-1)?.metadata.id ?? base;
    const next = links.find((l) => l.member?.metadata.chain.position === position && l.member.metadata.chain.parent === parent);
    if (!next) break;
    chain.push(next.member!);
    if (next.id === until) return chain;
  }
  const unlinked = links.filter((l) => !chain.some((m) => m.metadata.id === l.id));
  if (until === 'latest' && unlinked.length === 0) return chain;
  if (until !== 'latest' && !links.some((l) => l.id === until)) {
    throw new KitError('BACKUP_NOT_FOUND', `No differential ${until} follows ${base} in ${where} (its chain holds ${chain.map((m) => m.metadata.id).join(', ') || 'no differentials'}). Give one of those, or --until latest. Nothing was changed.`);
  }
  const last = chain.at(-1)?.metadata.id;
  const damaged = unlinked.some((l) => l.problem);
  const goal = until === 'latest' ? 'the rest of the chain' : until;
  const fallback = last ? `import up to ${last} (--until ${last})` : 'import the full export alone (without --until)';
  throw new KitError(
    'CHAIN_BROKEN',
    `The differential chain of ${base} is broken: differential ${chain.length + 1} (following ${last ?? base}) is missing${damaged ? ' or damaged' : ''} in ${where}, so ${goal} cannot be reached:\n  ` +
      `${unlinked.map((l) => describeUnlinked(l, links, where)).join('\n  ')}\n` +
      `Put the missing or damaged exports back (pnpm db:pull -- <id> when the remote holds a good copy), or ${fallback}. Nothing was changed.`,
  );
}
