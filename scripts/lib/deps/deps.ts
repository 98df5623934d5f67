/**
 * Are the PostgreSQL client programs here, and do they fit each configured environment's server?
 * --install adds what is missing with the system's package manager, or prints the command when
 * the kit may not run it.
 */
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { KitError } from '../errors.js';
import { resolveTarget, describeTarget } from '../config/target.js';
import { classifyConnectError, connect, serverFacts } from '../engines/postgres/connect.js';
import { candidateDirs, locateTool, parseToolVersion, type ToolCandidate, type ToolName } from '../engines/postgres/tools.js';
import type { CommandContext } from '../context.js';
import { probeOutput, runToExit, type ExitReport } from '../proc/process.js';

const TOOLS: ToolName[] = ['pg_dump', 'pg_restore', 'psql'];

export interface ToolReport {
  name: ToolName;
  found: Array<{ path: string; version: string; major: number }>;
}

export interface EnvironmentReport {
  environment: string;
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

async function versionAt(dir: string, name: ToolName): Promise<ToolCandidate | undefined> {
  const file = path.join(dir, name);
  if (!existsSync(file)) return undefined;
  const parsed = parseToolVersion((await probeOutput(file, ['--version'], 10_000)) ?? '');
  return parsed ? { dir, ...parsed } : undefined;
}

/** One install command, stopped by Ctrl-C or after ten minutes. */
function installStep([program, ...args]: string[], ctx: CommandContext): Promise<ExitReport> {
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(600_000)]);
  return runToExit(program!, args, { signal, env: { ...ctx.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** Every copy of each tool the kit would consider, in the order it considers them. */
export async function inventory(env: NodeJS.ProcessEnv): Promise<ToolReport[]> {
  const dirs = candidateDirs(env);
  const reports: ToolReport[] = [];
  for (const name of TOOLS) {
    const found: ToolReport['found'] = [];
    const seen = new Set<string>();
    for (const dir of dirs) {
      const candidate = await versionAt(dir, name);
      if (!candidate) continue;
      const key = realpathSync(path.join(dir, name)); // /bin and /usr/bin are often one directory
      if (seen.has(key)) continue;
      seen.add(key);
      found.push({ path: path.join(dir, name), version: candidate.version, major: candidate.major });
    }
    reports.push({ name, found });
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

/** What to run to get client tools of these major versions. Pure. */
export function planInstall(platform: NodeJS.Platform, majors: number[], hasApt: boolean, hasBrew: boolean, asRoot: boolean, passwordlessSudo: boolean): InstallPlan {
  const plan = (steps: string[][], runnable: boolean): InstallPlan => ({ steps, commands: steps.map((s) => s.join(' ')), runnable });
  if (majors.length === 0) return plan([], true);
  if (platform === 'darwin' || (!hasApt && hasBrew)) return plan(majors.map((m) => ['brew', 'install', `postgresql@${m}`]), hasBrew);
  if (hasApt) {
    const sudo = asRoot ? [] : ['sudo'];
    const packages = majors.map((m) => `postgresql-client-${m}`);
    return plan([[...sudo, 'apt-get', 'update'], [...sudo, 'apt-get', 'install', '-y', ...packages]], asRoot || passwordlessSudo);
  }
  return { steps: [], commands: majors.map((m) => `# install the PostgreSQL ${m} client programs with your system's package manager`), runnable: false };
}

export async function checkDeps(ctx: CommandContext, options: { install: boolean }): Promise<DepsResult> {
  const tools = await inventory(ctx.env);
  const environments: EnvironmentReport[] = [];
  for (const environment of configuredEnvironments(ctx.root)) {
    let target;
    try {
      target = resolveTarget({ env: environment === 'default' ? undefined : environment, root: ctx.root, processEnv: {} });
    } catch (error) {
      environments.push({ environment, target: '?', fits: false, problem: (error as Error).message, tools: [] });
      continue;
    }
    const report: EnvironmentReport = { environment, target: describeTarget(target), fits: false, tools: [] };
    try {
      const client = await connect(target);
      try {
        const facts = await serverFacts(client);
        report.server = facts.version;
        report.major = facts.major;
      } finally {
        await client.end();
      }
    } catch (error) {
      report.problem = classifyConnectError(error, target).error.message;
      environments.push(report);
      continue;
    }
    const missing: string[] = [];
    for (const name of TOOLS) {
      try {
        const chosen = await locateTool(name, report.major!, ctx.env); // exactly what a command would use
        report.tools.push({ name, path: chosen.path, version: chosen.version });
      } catch {
        missing.push(name);
      }
    }
    report.fits = missing.length === 0;
    if (!report.fits) report.problem = `no ${missing.join(', ')} of version ${report.major} or newer`;
    environments.push(report);
  }
  const noTools = tools.filter((t) => t.found.length === 0).map((t) => t.name);
  let install: DepsResult['install'];
  if (options.install) {
    const majors = [...new Set(environments.filter((e) => e.major !== undefined && !e.fits).map((e) => e.major!))];
    if (noTools.length && majors.length === 0) majors.push(17);
    const has = async (cmd: string, args: string[]) => (await probeOutput(cmd, args, 5_000)) !== undefined;
    const plan = planInstall(process.platform, majors, await has('apt-get', ['--version']), await has('brew', ['--version']), process.getuid?.() === 0, await has('sudo', ['-n', 'true']));
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
