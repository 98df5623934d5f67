/** `db:keygen`: a new age identity for encrypted backups, and what to do with it. */
import path from 'node:path';
import { stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { defaultIdentityPath, writeNewIdentity } from '../crypto/keys.js';

export interface KeygenArgs extends CommonArgs {
  output: string | undefined;
}

export interface KeygenResult {
  identityFile: string;
  publicKey: string;
  warning: string;
}

const WARNING = 'Losing this file loses every backup encrypted to its public key: nobody, not even the kit, can decrypt them without it. Keep a copy offline (a password manager or a printed copy in a safe), and keep it off the backup host. Anyone who holds it can read those backups.';

export const keygenCommand: Command<KeygenArgs, KeygenResult> = {
  name: 'keygen',
  synopsis: 'pnpm db:keygen -- [--output <file>] [--json]',
  description: `
Writes a new age identity (secret key) to <file> with mode 0600 (default:
~/.config/pg-backup-kit/age-identity.txt; an existing file is never overwritten) and prints its
public key. Put the public key in backup-kit.json ("encryption": { "recipients": ["age1…"] },
or per environment) or in AGE_RECIPIENTS on the machines that take backups; keep the identity
where restores run (AGE_IDENTITY_FILE or --identity).

Losing the identity loses every backup encrypted to it.`,
  // It writes a key file and never connects.
  shared: [],
  options: { output: { type: 'string', short: 'o', arg: '<file>', help: 'where to write the identity (never overwritten)' } },
  parse(values, positionals, common) {
    if (positionals.length) throw usageError([`db:keygen takes no arguments, got ${positionals.join(' ')}; name the file with --output <file>.`], 'pnpm db:keygen --');
    return { ...common, output: stringValue(values, 'output') };
  },
  async run(args, ctx) {
    const file = args.output !== undefined ? path.resolve(ctx.root, args.output) : defaultIdentityPath(ctx.env);
    const written = await writeNewIdentity(file, ctx.now());
    return { identityFile: written.path, publicKey: written.recipient, warning: WARNING };
  },
  render(result) {
    return [
      `Wrote a new age identity to ${result.identityFile} (mode 0600).`,
      `Public key: ${result.publicKey}`,
      '',
      `Encrypt backups to it: "encryption": { "recipients": ["${result.publicKey}"] } in backup-kit.json, or AGE_RECIPIENTS=${result.publicKey}.`,
      `Decrypt with: AGE_IDENTITY_FILE=${result.identityFile} (or --identity ${result.identityFile}).`,
      '',
      `WARNING: ${result.warning}`,
    ];
  },
};
