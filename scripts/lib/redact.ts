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

// The password of a connection URL, even a malformed one: after "scheme://user:" up to the "@"
// that is followed by a host and the end of the URL's authority (a password may hold spaces or
// an unencoded "@"). Without "//" ("postgres:PW@host/db"), everything between the scheme and "@".
const URL_PASSWORD = /(postgres(?:ql)?:\/\/)([^:@/\s]*):(.+?)(@[\w.%[\]:-]*)(?=[/?#\s,;)'"]|$)/gi;
const URL_NO_SLASHES = /(postgres(?:ql)?:)(?!\/\/)([^\s@/]+?)(@[\w.%[\]-]*)(?=[:/?#\s,;)'"]|$)/gi;
const PASSWORD_PARAM = /((?:^|[?&\s])password=)([^&\s]*)/gi;

export function redact(text: string): string {
  let out = text
    .replace(URL_PASSWORD, (whole, scheme: string, user: string, _password: string, host: string) =>
      // The kit's own example ("user:password@host") is left readable; nothing else is.
      user === 'user' && whole === `${scheme}user:password${host}` && host.startsWith('@host') ? whole : `${scheme}${user}:***${host}`,
    )
    .replace(URL_NO_SLASHES, '$1***$3')
    .replace(PASSWORD_PARAM, '$1***');
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
