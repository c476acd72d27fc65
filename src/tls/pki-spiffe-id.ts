// SPIFFE ID syntax, checked before a workload certificate is issued for it.
// Rules from the SPIFFE ID specification (spiffe/spiffe standards/SPIFFE-ID.md §2):
// a lowercase trust domain, a path of non-empty segments from a small character set,
// no '.'/'..' segments, and nothing an URL parser would treat as port, userinfo, query
// or fragment. Being strict here matters because the ID becomes an authorization
// subject: two spellings of one workload (`/a/./b` vs `/a/b`, `TD` vs `td`) would
// otherwise be two different identities to a policy that compares strings.
import { PkiError } from './pki-error.ts';

export interface SpiffeId {
  readonly trustDomain: string;
  /** Starts with '/', e.g. `/ns/prod/sa/api`. */
  readonly path: string;
}

const SCHEME = 'spiffe://';
const MAX_BYTES = 2048;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Parses a workload SPIFFE ID (`spiffe://trust-domain/path`). A bare trust-domain ID
 * (no path) is refused: it names a trust domain, not a workload. Throws a PkiError with
 * code `pki-invalid-spiffe-id` that says which rule was broken.
 */
export function parseSpiffeId(text: string): SpiffeId {
  const fail = (why: string): never => {
    throw new PkiError('pki-invalid-spiffe-id', `invalid SPIFFE ID ${JSON.stringify(text)}: ${why}`);
  };
  if (Buffer.byteLength(text, 'utf8') > MAX_BYTES) fail(`longer than ${MAX_BYTES} bytes`);
  if (!text.startsWith(SCHEME)) fail(`must start with "${SCHEME}" (lowercase scheme)`);
  const rest = text.slice(SCHEME.length);
  if (rest.includes('?')) fail('a query is not allowed');
  if (rest.includes('#')) fail('a fragment is not allowed');

  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (trustDomain === '') fail('the trust domain is empty');
  if (trustDomain.includes('@')) fail('userinfo is not allowed');
  if (trustDomain.includes(':')) fail('a port is not allowed');
  if (!TRUST_DOMAIN.test(trustDomain)) fail('the trust domain may contain only a-z, 0-9, ".", "-" and "_"');
  if (path === '') fail('a workload ID needs a path, e.g. spiffe://example.org/ns/prod/sa/api');

  for (const segment of path.slice(1).split('/')) {
    if (segment === '') fail('path segments must not be empty (no "//" and no trailing "/")');
    if (segment === '.' || segment === '..') fail('path segments "." and ".." are not allowed');
    if (!SEGMENT.test(segment)) fail('path segments may contain only A-Z, a-z, 0-9, ".", "-" and "_"');
  }
  return { trustDomain, path };
}
