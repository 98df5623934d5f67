/**
 * Everything the kit prints, logs or writes to metadata passes through here. Secrets are
 * registered as they are discovered (a password from a URL or env file) and masked wherever they
 * appear, in addition to the password part of any connection URL.
 */

const secrets = new Set<string>();

export function registerSecret(secret: string | undefined): void {
  // Very short strings would mask innocent text everywhere; they are still never printed by the
  // kit itself, because URLs are always masked structurally below.
  if (secret && secret.length >= 3) secrets.add(secret);
}

// The placeholder "password" in the kit's own examples is left alone; a real password is also
// masked by value once registered, whatever it is.
const URL_PASSWORD = /(postgres(?:ql)?:\/\/[^:@/\s]*:)(?!password@)([^@\s]*)(@)/gi;
const PASSWORD_PARAM = /((?:^|[?&\s])password=)([^&\s]*)/gi;

export function redact(text: string): string {
  let out = text.replace(URL_PASSWORD, '$1***$3').replace(PASSWORD_PARAM, '$1***');
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join('***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret && out.includes(encoded)) out = out.split(encoded).join('***');
  }
  return out;
}

/** A connection URL as it may be shown: password replaced, everything else kept. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    parsed.searchParams.delete('password');
    return parsed.toString();
  } catch {
    return redact(url);
  }
}
