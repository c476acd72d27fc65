// The refusals a signed token gets before any key is touched (RFC 8725 JWT BCP), shared
// by bearer tokens and device-posture assertions: they can only refuse, never accept.
//  - the compact JWS shape (a JWE or junk never reaches a parser that might be lenient);
//  - header parameters that point at or carry a key (`jwk`/`jku`/`x5u`/`x5c`): trusting
//    them lets the token choose its own verifier (RFC 8725 §3.10, CVE-2018-0114);
//  - any `crit` (RFC 7515 §4.1.11: an extension the recipient does not understand);
//  - an `alg` off every allowlist (`none`, `HS256` signed with a public key: RFC 8725 §2.1);
//  - an empty or giant `kid`, which can match no real key but may cost a JWKS refetch.
// Then the unverified `iss` — only to pick whose keys to try; nothing else is read from
// the unverified payload.
import { decodeJwt, decodeProtectedHeader, type ProtectedHeaderParameters } from 'jose';

/** Why a token was refused before verification (the caller maps these to its own reasons). */
export type PrecheckProblem =
  | 'not-jws'
  | 'malformed'
  | 'unsafe-header'
  | 'crit-unsupported'
  | 'alg-not-allowed'
  | 'unknown-key'
  | 'missing-iss';

export type Precheck =
  | { readonly ok: true; readonly alg: string; readonly iss: string }
  | { readonly ok: false; readonly problem: PrecheckProblem };

const KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

/** Compact JWS: three base64url parts; the signature part may be empty only for `alg: none`, which the allowlist refuses. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Real kids are short (a thumbprint, a date, a UUID); an enormous one is only ever an attack on whatever looks it up. */
const MAX_KID_LENGTH = 512;

const PROBLEMS = Object.freeze(
  Object.fromEntries(
    (['not-jws', 'malformed', 'unsafe-header', 'crit-unsupported', 'alg-not-allowed', 'unknown-key', 'missing-iss'] as const).map((problem) => [
      problem,
      Object.freeze({ ok: false as const, problem }),
    ]),
  ),
) as Readonly<Record<PrecheckProblem, Precheck>>;

function countParts(token: string): number {
  let n = 1;
  for (let i = token.indexOf('.'); i !== -1; i = token.indexOf('.', i + 1)) n++;
  return n;
}

/** The header checks above, then the unverified `iss` (a string) and `alg` (in `algorithms`). */
export function precheckJws(token: string, algorithms: ReadonlySet<string>): Precheck {
  if (countParts(token) !== 3) return PROBLEMS['not-jws']; // 5 parts: a JWE (RFC 7516 §7.1); we only verify signatures
  if (!COMPACT_JWS.test(token)) return PROBLEMS.malformed;
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return PROBLEMS.malformed;
  }
  for (const name of KEY_HEADERS) if (Object.hasOwn(header, name)) return PROBLEMS['unsafe-header'];
  if (Object.hasOwn(header, 'crit')) return PROBLEMS['crit-unsupported'];
  // `none`, `None`, `HS256`…: off every allowlist, refused before the payload is read.
  if (typeof header.alg !== 'string' || !algorithms.has(header.alg)) return PROBLEMS['alg-not-allowed'];
  if (header.kid !== undefined) {
    if (typeof header.kid !== 'string') return PROBLEMS.malformed; // RFC 7515 §4.1.4: a string
    if (header.kid.length === 0 || header.kid.length > MAX_KID_LENGTH) return PROBLEMS['unknown-key'];
  }
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    return PROBLEMS.malformed;
  }
  if (iss === undefined) return PROBLEMS['missing-iss'];
  if (typeof iss !== 'string') return PROBLEMS.malformed;
  return { ok: true, alg: header.alg, iss };
}
