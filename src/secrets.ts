/**
 * Secrets in text meant for people: connection strings with their passwords masked, and the
 * environment's passwords scrubbed from any message before it is printed. Both forms of a
 * Postgres connection string are understood: the URL and libpq's keyword/value form.
 */

type Env = Record<string, string | undefined>;

/**
 * A libpq keyword/value connection string (`host=db user=app password=secret`), which people
 * paste into DATABASE_URL: every `...password=` value, quoted ('a \' b', with backslash escapes) or not.
 */
const KEYWORD_PASSWORD = /(\b[a-z_]*password\s*=\s*)((?:'(?:[^'\\]|\\.)*'?)+\S*|\S*)/gi;
const LOOKS_LIKE_KEYWORDS = /^\s*[a-z_]+\s*=/i;

/** The text is a libpq keyword/value string (`host=... password=...`), not a URL. */
export function isKeywordConnectionString(raw: string): boolean {
  return LOOKS_LIKE_KEYWORDS.test(raw);
}

/** The values of every password-like keyword in a keyword/value connection string. */
function keywordPasswords(raw: string): string[] {
  if (!isKeywordConnectionString(raw)) return [];
  return [...raw.matchAll(KEYWORD_PASSWORD)].map((m) => {
    const v = m[2] ?? '';
    const quoted = /^'((?:[^'\\]|\\.)*)'?$/.exec(v);
    return quoted ? (quoted[1] ?? '').replace(/\\(.)/g, '$1') : v;
  });
}

/**
 * A URL with its password replaced by `***`, for messages: the user-info password, and query
 * parameters such as `?password=` or `?sslpassword=`. A libpq keyword/value string gets its
 * password values masked. Text that does not parse as scheme://user:password@host keeps only what
 * cannot be a password: the scheme and whatever follows the last `@` (a password with an
 * unescaped `#`, `/` or `@` splits the URL oddly).
 */
export function maskSecretUrl(raw: string): string {
  if (isKeywordConnectionString(raw)) return raw.replace(KEYWORD_PASSWORD, '$1***');
  try {
    const u = new URL(raw);
    const afterAuthority = `${u.pathname}${u.search}${u.hash}`;
    if (raw.includes('//') && u.host && !afterAuthority.includes('@') && !afterAuthority.includes('%40')) {
      if (u.password) u.password = '***';
      for (const key of [...u.searchParams.keys()]) if (/password/i.test(key)) u.searchParams.set(key, '***');
      return u.toString();
    }
  } catch {
    // fall through
  }
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw)?.[0] ?? '';
  const rest = raw.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) return `${scheme}***@${rest.slice(at + 1)}`;
  // No '@': a `name:value` could still be credentials; `host:port` cannot.
  return rest.includes(':') && !/^[^:]*:\d*(\/.*)?$/.test(rest) ? `${scheme}***` : raw;
}

/**
 * `text` with every secret of the environment replaced by `***`: the SMPP password (from
 * SMPP_PASSWORD or SMPP_URL) and the DATABASE_URL password (in the URL, its query, or a libpq
 * keyword/value string), raw and percent-encoded.
 */
export function redactSecrets(text: string, env: Env = process.env): string {
  const secrets = new Set<string>();
  const add = (s: string | undefined) => {
    if (!s || s.length < 3) return; // too short to redact without mangling ordinary words
    secrets.add(s);
    try {
      secrets.add(decodeURIComponent(s));
    } catch {
      // keep the raw form only
    }
    secrets.add(encodeURIComponent(s));
  };
  add(env.SMPP_PASSWORD?.trim());
  for (const name of ['SMPP_URL', 'DATABASE_URL']) {
    const raw = env[name]?.trim();
    if (!raw) continue;
    for (const p of keywordPasswords(raw)) add(p);
    try {
      const u = new URL(raw);
      add(u.password);
      for (const [key, value] of u.searchParams) if (/password/i.test(key)) add(value);
    } catch {
      // Unparseable: the part between the first ':' after '//' and the last '@' may be a password.
      const m = /^[^:]*:\/\/[^:@/]*:(.*)@[^@]*$/.exec(raw);
      add(m?.[1]);
    }
  }
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out;
}
