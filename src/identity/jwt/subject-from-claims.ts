// The verified claims as the policy reads them. Claims are typed leniently but never
// coerced: a value of the wrong type is treated as absent, so `"email_verified": "true"`
// is not verified and `"groups": {"0": "admin"}` grants no group.
import type { Subject } from '../../basics/subject.ts';

export interface ClaimNames {
  readonly groupsClaim: string;
  readonly emailClaim: string;
}

/** Reads own properties only, so a configured claim name like `constructor` reads nothing inherited. */
function own(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

function strings(value: unknown): readonly string[] {
  if (typeof value === 'string') return Object.freeze([value]);
  if (!Array.isArray(value)) return EMPTY;
  const out = value.filter((v): v is string => typeof v === 'string');
  return out.length === 0 ? EMPTY : Object.freeze(out);
}

const EMPTY: readonly string[] = Object.freeze([]);

/**
 * Deep-freezes the claims: one Subject is shared by every request that presents the
 * token (the verified-token cache), so nothing downstream may change what a later
 * request sees.
 */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Builds the Subject of a verified token; `sub` and `iss` were checked to be strings. */
export function subjectFromClaims(
  claims: Record<string, unknown>,
  issuer: string,
  sub: string,
  names: ClaimNames,
  source: Subject['source'] = 'bearer',
): Subject {
  const email = own(claims, names.emailClaim);
  const authTime = own(claims, 'auth_time');
  const acr = own(claims, 'acr');
  const amr = own(claims, 'amr');
  return Object.freeze({
    source,
    issuer,
    sub,
    email: typeof email === 'string' ? email : undefined,
    emailVerified: own(claims, 'email_verified') === true,
    groups: strings(own(claims, names.groupsClaim)),
    claims: deepFreeze(claims),
    authTime: typeof authTime === 'number' && Number.isFinite(authTime) ? authTime : undefined,
    acr: typeof acr === 'string' ? acr : undefined,
    amr: Array.isArray(amr) ? strings(amr) : EMPTY,
  });
}
