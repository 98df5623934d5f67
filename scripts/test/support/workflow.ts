/**
 * Runs a GitHub Actions job's steps on this machine, in order, the way a runner would: `run:`
 * steps under bash -eo pipefail with $GITHUB_OUTPUT, `if:` conditions, and `${{ }}` for the
 * expressions these workflows use (secrets, step outputs, github.sha). Anything else in an
 * expression is an error, so the test can never silently evaluate it wrongly. `uses:` steps are
 * not run; they are returned with their inputs resolved.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

interface Step {
  id?: string;
  name?: string;
  if?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}

interface Workflow {
  jobs: Record<string, { env?: Record<string, string>; steps: Step[] }>;
}

export interface StepRecord {
  name: string;
  outcome: 'success' | 'failure' | 'skipped' | 'not run here';
  output: string;
  with?: Record<string, string>;
}

export interface RunOptions {
  secrets: Record<string, string>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Steps not to run here (installing tools the test machine already has). */
  skip?: (step: Step) => boolean;
  /** Change the workflow before running it (mutation tests). */
  edit?: (steps: Step[]) => Step[];
}

export function readWorkflow(file: string): Workflow {
  return parse(readFileSync(file, 'utf8')) as Workflow;
}

function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const end = lines.indexOf(heredoc[2]!, i + 1);
      outputs[heredoc[1]!] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (line.includes('=')) {
      outputs[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return outputs;
}

export async function runJob(file: string, job: string, options: RunOptions): Promise<StepRecord[]> {
  const workflow = readWorkflow(file);
  const definition = workflow.jobs[job]!;
  const steps = options.edit ? options.edit([...definition.steps]) : definition.steps;
  const outputs: Record<string, Record<string, string>> = {};
  const records: StepRecord[] = [];
  let failed = false;

  const value = (expr: string): string => {
    const e = expr.trim();
    let m: RegExpExecArray | null;
    if ((m = /^secrets\.(\w+)$/.exec(e))) return options.secrets[m[1]!] ?? '';
    if ((m = /^steps\.([\w-]+)\.outputs\.(\w+)$/.exec(e))) return outputs[m[1]!]?.[m[2]!] ?? '';
    if (e === 'github.sha') return String(options.env.GITHUB_SHA ?? '');
    if ((m = /^'(.*)'$/.exec(e))) return m[1]!;
    throw new Error(`unsupported expression in ${path.basename(file)}: ${e}`);
  };
  const substitute = (text: string) => text.replace(/\$\{\{(.*?)\}\}/g, (_, e: string) => value(e));
  const condition = (expr: string | undefined): boolean => {
    const text = (expr ?? 'success()').replace(/^\$\{\{(.*)\}\}$/, '$1');
    return text.split('&&').every((term) => {
      const t = term.trim();
      if (t === 'success()') return !failed;
      if (t === 'failure()') return failed;
      if (t === 'always()') return true;
      const cmp = /^(.+?)\s*(==|!=)\s*(.+)$/.exec(t);
      if (cmp) return (value(cmp[1]!) === value(cmp[3]!)) === (cmp[2] === '==');
      throw new Error(`unsupported condition in ${path.basename(file)}: ${t}`);
    });
  };
  const jobEnv = Object.fromEntries(Object.entries(definition.env ?? {}).map(([k, v]) => [k, substitute(String(v))]));

  for (const step of steps) {
    const name = step.name ?? step.uses ?? step.run ?? '?';
    if (!condition(step.if)) {
      records.push({ name, outcome: 'skipped', output: '' });
      continue;
    }
    if (step.uses || options.skip?.(step)) {
      records.push({ name, outcome: 'not run here', output: '', ...(step.with ? { with: Object.fromEntries(Object.entries(step.with).map(([k, v]) => [k, substitute(String(v))])) } : {}) });
      continue;
    }
    const outputFile = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-gh-')), 'output');
    writeFileSync(outputFile, '');
    const env = { ...options.env, ...jobEnv, ...Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, substitute(String(v))])), GITHUB_OUTPUT: outputFile };
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', substitute(step.run!)], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (text += c.toString()));
      child.once('close', (c) => resolve({ code: c, output: text }));
    });
    if (step.id) outputs[step.id] = parseOutputs(readFileSync(outputFile, 'utf8'));
    if (code !== 0) failed = true;
    records.push({ name, outcome: code === 0 ? 'success' : 'failure', output });
  }
  return records;
}
