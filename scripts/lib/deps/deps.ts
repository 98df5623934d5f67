/**
 * Are the client programs here, and do they fit each configured environment's server? Each
 * environment is checked by its own engine (PostgreSQL's pg_dump, pg_restore and psql; MySQL's and
 * MariaDB's mariadb-dump and mariadb). --install adds what is missing with the system's package
 * manager, or prints the command when the kit may not run it.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { KitError } from '../errors.js';
import { resolveTarget, describeTarget } from '../config/target.js';
import type { Engine, ToolName } from '../engines/engine.js';
import { engineFor, engineForTarget, environmentOf } from '../engines/registry.js';
import type { CommandContext } from '../context.js';
import { probeOutput, runToExit, type ExitReport } from '../proc/process.js';


export interface ToolReport {
  name: ToolName;
  found: Array<{ path: string; version: string; major: number }>;
}

export interface EnvironmentReport {
  environment: string;
  /** The engine serving it (postgresql, mysql); absent when its settings could not be read. */
  engine?: string;
  /** The server as people name it: PostgreSQL, MariaDB or MySQL. */
  serverKind?: string;
  target: string;
  server?: string;
  major?: number;
  fits: boolean;
  problem?: string;
  tools: Array<{ name: ToolName; path?: string; version?: string }>;
}

export interface DepsResult {
  tools: ToolReport[];
  environments: EnvironmentReport[];
  install?: { commands: string[]; ran: boolean };
  ok: boolean;
}

/** One install command, stopped by Ctrl-C or after ten minutes. */
function installStep([program, ...args]: string[], ctx: CommandContext): Promise<ExitReport> {
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(600_000)]);
  return runToExit(program!, args, { signal, env: { ...ctx.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/**
 * Every copy of each tool the kit would consider, in the order it considers them, for each engine
 * in use (PostgreSQL's when none is configured yet).
 */
export async function inventory(env: NodeJS.ProcessEnv, engines: readonly Engine[] = [engineFor('postgresql')]): Promise<ToolReport[]> {
  const reports: ToolReport[] = [];
  for (const engine of engines) {
    const seam = environmentOf(engine);
    for (const name of seam.clientTools) reports.push({ name, found: await seam.toolCopies(name, env) });
  }
  return reports;
}

/** Environments with a connection configured: packages/database/.env and every .env.<name>. */
export function configuredEnvironments(root: string): string[] {
  const dir = path.join(root, 'packages/database');
  const names = existsSync(dir) ? readdirSync(dir) : [];
  const envs = names.filter((n) => /^\.env\.[A-Za-z0-9][A-Za-z0-9_-]*$/.test(n) && n !== '.env.example').map((n) => n.slice(5));
  return [...(names.includes('.env') || existsSync(path.join(root, '.env')) ? ['default'] : []), ...envs.sort()];
}

export interface InstallPlan {
  /** Each command as an argument array, to run without a shell. */
  steps: string[][];
  /** The same commands as a person would type them (printed when the kit may not run them). */
  commands: string[];
  /** True when the kit may run them itself (root, or sudo without a password). */
  runnable: boolean;
}

/** Another engine's client package, as each package manager names it. */
export interface ClientPackage {
  apt: string;
  brew: string;
  /** For a person, where no known package manager is found: "MySQL/MariaDB". */
  label: string;
}

/** What to run to get PostgreSQL client tools of these major versions, and other engines' client packages. Pure. */
export function planInstall(platform: NodeJS.Platform, majors: number[], hasApt: boolean, hasBrew: boolean, asRoot: boolean, passwordlessSudo: boolean, others: ClientPackage[] = []): InstallPlan {
  const plan = (steps: string[][], runnable: boolean): InstallPlan => ({ steps, commands: steps.map((s) => s.join(' ')), runnable });
  if (majors.length === 0 && others.length === 0) return plan([], true);
  if (platform === 'darwin' || (!hasApt && hasBrew)) return plan([...majors.map((m) => ['brew', 'install', `postgresql@${m}`]), ...others.map((o) => ['brew', 'install', o.brew])], hasBrew);
  if (hasApt) {
    const sudo = asRoot ? [] : ['sudo'];
    const packages = [...majors.map((m) => `postgresql-client-${m}`), ...others.map((o) => o.apt)];
    return plan([[...sudo, 'apt-get', 'update'], [...sudo, 'apt-get', 'install', '-y', ...packages]], asRoot || passwordlessSudo);
  }
  const advice = [...majors.map((m) => `PostgreSQL ${m}`), ...others.map((o) => o.label)];
  return { steps: [], commands: advice.map((what) => `# install the ${what} client programs with your system's package manager`), runnable: false };
}

/** One environment: its server asked through its own engine, and each of that engine's programs judged against it. */
async function checkEnvironment(environment: string, ctx: CommandContext): Promise<EnvironmentReport> {
  let target;
  try {
    target = resolveTarget({ env: environment === 'default' ? undefined : environment, root: ctx.root, processEnv: {} });
  } catch (error) {
    return { environment, target: '?', fits: false, problem: (error as Error).message, tools: [] };
  }
  const engine = engineForTarget(target);
  const report: EnvironmentReport = { environment, engine: engine.name, target: describeTarget(target), fits: false, tools: [] };
  let facts;
  try {
    const client = await engine.connectWithWait(target, 0);
    try {
      facts = await engine.serverFacts(client);
    } finally {
      await client.end();
    }
  } catch (error) {
    report.problem = error instanceof Error ? error.message : String(error);
    return report;
  }
  Object.assign(report, { server: facts.version, major: facts.major, serverKind: facts.flavour ?? engine.label });
  const missing: string[] = [];
  for (const name of environmentOf(engine).clientTools) {
    try {
      const chosen = await engine.locateTool(name, facts, ctx.env); // exactly what a command would use
      report.tools.push({ name, path: chosen.path, version: chosen.version });
    } catch {
      missing.push(name);
    }
  }
  report.fits = missing.length === 0;
  if (!report.fits) report.problem = `no ${missing.join(', ')} of version ${facts.release ?? facts.major} or newer`;
  return report;
}

/** The engines the configured environments use; PostgreSQL's when none could be read. */
function enginesIn(environments: EnvironmentReport[]): Engine[] {
  const names = [...new Set(environments.map((e) => e.engine).filter((e): e is string => e !== undefined))];
  // Reverse name order puts postgresql before mysql: PostgreSQL's programs are listed first, as always.
  return (names.length ? names : ['postgresql']).sort().reverse().map((name) => engineFor(name));
}

/** What --install adds: PostgreSQL client majors, and other engines' client packages, for what is missing or does not fit. */
function installNeeds(environments: EnvironmentReport[], tools: ToolReport[]): { majors: number[]; others: ClientPackage[] } {
  const unfit = environments.filter((e) => e.major !== undefined && !e.fits);
  // Engines whose client package goes by the server's major version (PostgreSQL's) install by it.
  const majors = [...new Set(unfit.filter((e) => !environmentOf(engineFor(e.engine)).clientPackage).map((e) => e.major!))];
  const others = new Map<string, ClientPackage>();
  for (const engine of enginesIn(environments)) {
    const seam = environmentOf(engine);
    const lacking = unfit.some((e) => e.engine === engine.name) || tools.some((t) => t.found.length === 0 && seam.clientTools.includes(t.name));
    if (!lacking) continue;
    if (seam.clientPackage) others.set(engine.name, seam.clientPackage);
    else if (majors.length === 0) majors.push(17);
  }
  return { majors, others: [...others.values()] };
}

export async function checkDeps(ctx: CommandContext, options: { install: boolean }): Promise<DepsResult> {
  const environments: EnvironmentReport[] = [];
  for (const environment of configuredEnvironments(ctx.root)) environments.push(await checkEnvironment(environment, ctx));
  const tools = await inventory(ctx.env, enginesIn(environments));
  const noTools = tools.filter((t) => t.found.length === 0).map((t) => t.name);
  let install: DepsResult['install'];
  if (options.install) {
    const { majors, others } = installNeeds(environments, tools);
    const has = async (cmd: string, args: string[]) => (await probeOutput(cmd, args, 5_000)) !== undefined;
    const plan = planInstall(process.platform, majors, await has('apt-get', ['--version']), await has('brew', ['--version']), process.getuid?.() === 0, await has('sudo', ['-n', 'true']), others);
    let ran = false;
    if (plan.steps.length && plan.runnable) {
      for (const step of plan.steps) {
        const command = step.join(' ');
        ctx.reporter.notice(`running: ${command}`);
        const out = await installStep(step, ctx);
        if (out.status !== 0) {
          const why = out.stderr.trim().split('\n').at(-1) ?? `exit ${out.status ?? out.signal}`;
          throw new KitError('PG_TOOL_MISSING', `Installing failed (${command}): ${why}. Run it yourself, or install the client programs another way and set PG_BIN.`);
        }
      }
      ran = true;
      return { ...(await checkDeps(ctx, { install: false })), install: { commands: plan.commands, ran } };
    }
    install = { commands: plan.commands, ran };
  }
  const ok = noTools.length === 0 && environments.every((e) => e.fits);
  return { tools, environments, ...(install ? { install } : {}), ok };
}
