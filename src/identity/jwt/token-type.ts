// Which kind of token this is. An IdP signs ID tokens, logout tokens and sometimes refresh
// tokens with the same key as access tokens, so a good signature does not make a token an
// access token. Token substitution (RFC 8725 §2.8, §3.11): an ID token leaked from a browser
// or a logout token captured from a back-channel call must not open an API.

/** The `typ` as RFC 8725 §3.11 compares it: case-insensitive, `application/` optional. */
export function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

/** `typ` values that name something other than an access token, whatever the config says. */
const NEVER_ACCESS_TYPS: ReadonlySet<string> = new Set([
  'logout+jwt', // OIDC Back-Channel Logout 1.0 §2.4
  'secevent+jwt', // RFC 8417 §2.3: security event tokens
  'id_token',
  'id-token',
  'id_token+jwt',
  'refresh_token',
]);

/**
 * Claims some IdPs put in the payload to say what a token is: Keycloak's `typ`
 * (`Bearer`, `ID`, `Refresh`, `Logout`) and Cognito's `token_use` (`access`, `id`).
 */
const KIND_CLAIMS = ['typ', 'token_use'] as const;
const NOT_ACCESS_KINDS: ReadonlySet<string> = new Set(['id', 'id_token', 'refresh', 'refresh_token', 'logout', 'offline']);

/**
 * Undefined when the verified token may be used as an access token; otherwise why not.
 * `requiredTyp` is the issuer's `requireTyp`, already normalised.
 */
export function tokenTypeProblem(
  headerTyp: unknown,
  claims: Readonly<Record<string, unknown>>,
  requiredTyp: string | undefined,
): string | undefined {
  if (headerTyp !== undefined && typeof headerTyp !== 'string') return 'typ is not a string';
  const typ = headerTyp === undefined ? undefined : normalizeTyp(headerTyp);
  if (requiredTyp !== undefined && typ !== requiredTyp) return `typ ${headerTyp ?? '(none)'} is not ${requiredTyp}`;
  if (typ !== undefined && (NEVER_ACCESS_TYPS.has(typ) || typ.includes('refresh'))) return `typ ${headerTyp} is not an access token`;
  // RFC 8417 §2.2: `events` makes a token a security event (a logout token is one).
  // Never an access token, whatever its typ.
  if (Object.hasOwn(claims, 'events')) return 'an events claim marks a security event token (e.g. a logout token)';
  // OIDC Core §2: `nonce` is an ID token claim. An RFC 9068 access token says so with
  // typ at+jwt, which is the one typ that may carry one.
  if (Object.hasOwn(claims, 'nonce') && typ !== 'at+jwt') return 'a nonce claim marks an ID token';
  for (const name of KIND_CLAIMS) {
    const kind = Object.hasOwn(claims, name) ? claims[name] : undefined;
    if (typeof kind === 'string' && NOT_ACCESS_KINDS.has(kind.toLowerCase())) return `${name} claim ${kind} is not an access token`;
  }
  return undefined;
}
