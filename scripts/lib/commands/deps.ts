/** `db:deps`: the report, and an exit status that says whether everything fits. */
import { KitError } from '../errors.js';
import { failWithReport, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { checkDeps, type DepsResult } from '../deps/deps.js';

export interface DepsArgs extends CommonArgs {
  install: boolean;
}

export const depsCommand: Command<DepsArgs, DepsResult> = {
  name: 'deps',
  synopsis: 'pnpm db:deps -- [--check | --install] [--json]',
  description: `
--check (the default) lists pg_dump, pg_restore and psql (every copy the kit would consider,
with path and version; mariadb-dump and mariadb when an environment is MySQL or MariaDB) and, for
each environment configured in packages/database/ (.env and .env.<name>), whether a fitting
version exists for its server. --install installs what is missing with apt-get (Debian/Ubuntu)
or brew (macOS), or prints the commands when it may not run them.`,
  notes: `Exit status: 0 when everything fits, 7 when a tool is missing or too old, 4 when an
environment's server cannot be reached to check. The report is printed (or in --json) either way.`,
  // It checks every configured environment, so it takes no single target.
  shared: [],
  options: {
    check: { type: 'boolean', help: 'report only (the default)' },
    install: { type: 'boolean', help: 'install what is missing, or print the commands to run' },
  },
  parse(values, positionals, common) {
    if (positionals.length) throw usageError([`db:deps takes no arguments, got ${positionals.join(' ')}.`], 'pnpm db:deps --');
    if (values.check === true && values.install === true) throw usageError(['Choose --check or --install.'], 'pnpm db:deps --');
    return { ...common, install: values.install === true };
  },
  async run(args, ctx) {
    const result = await checkDeps(ctx, { install: args.install });
    if (result.ok) return result;
    // The report is useful either way: it is shown, and the exit status says why it failed.
    const unreachable = result.environments.filter((e) => e.major === undefined);
    const unfit = result.environments.filter((e) => e.major !== undefined && !e.fits);
    const noTools = result.tools.filter((t) => t.found.length === 0).map((t) => t.name);
    if (unfit.length || noTools.length) {
      const what = [...noTools.map((t) => `${t} is not installed`), ...unfit.map((e) => `${e.environment} (${e.serverKind ?? 'PostgreSQL'} ${e.major}): ${e.problem}`)].join('; ');
      const how = result.install?.commands.length ? ` Run: ${result.install.commands.join(' && ')}` : ' Run pnpm db:deps -- --install, or set PG_BIN to a directory with newer client programs.';
      failWithReport(result, new KitError('PG_DUMP_TOO_OLD', `Client tools do not fit: ${what}.${how}`));
    }
    failWithReport(result, new KitError('SERVER_UNREACHABLE', `Could not check ${unreachable.map((e) => e.environment).join(', ')}: ${unreachable.map((e) => e.problem).join('; ')}`));
  },
  render(result) {
    const out = ['Client tools (in the order the kit looks for them):'];
    const width = Math.max(10, ...result.tools.map((t) => t.name.length));
    for (const t of result.tools) {
      if (t.found.length === 0) out.push(`  ${t.name.padEnd(width)}  not found`);
      for (const f of t.found) out.push(`  ${t.name.padEnd(width)}  ${f.version.padEnd(8)}  ${f.path}`);
    }
    out.push('', result.environments.length ? 'Environments:' : 'No environments configured in packages/database/ (.env or .env.<name>).');
    for (const e of result.environments) {
      if (e.major === undefined) out.push(`  ${e.environment.padEnd(10)}  ${e.target}: cannot check (${e.problem})`);
      else if (e.fits) out.push(`  ${e.environment.padEnd(10)}  ${e.target}: ${e.serverKind ?? 'PostgreSQL'} ${e.major} (${e.server}); fits: ${e.tools.map((t) => `${t.name} ${t.version} (${t.path})`).join(', ')}`);
      else out.push(`  ${e.environment.padEnd(10)}  ${e.target}: ${e.serverKind ?? 'PostgreSQL'} ${e.major} (${e.server}); DOES NOT FIT: ${e.problem}`);
    }
    if (result.install) {
      out.push('', result.install.ran ? `Installed with: ${result.install.commands.join(' && ')}` : result.install.commands.length ? `To install, run:\n  ${result.install.commands.join('\n  ')}` : 'Nothing to install.');
    }
    return out;
  },
};
