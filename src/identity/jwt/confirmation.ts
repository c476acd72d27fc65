// Sender-constrained tokens (RFC 7800 `cnf`). A token bound to a key is worth nothing to a
// thief who does not hold that key, but only if the resource server checks the binding:
// accepted as a plain bearer token, a stolen bound token is as good as an unbound one.
import { createHash } from 'node:crypto';

/** RFC 8705 §3.1: base64url SHA-256 of the DER certificate, as `cnf["x5t#S256"]` carries it. */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}

export type Confirmation =
  | { readonly kind: 'none' }
  | { readonly kind: 'x5t#S256'; readonly thumbprint: string }
  | { readonly kind: 'unsupported'; readonly detail: string };

const NONE: Confirmation = Object.freeze({ kind: 'none' });

/**
 * The binding a verified token demands. Any confirmation method other than a certificate
 * thumbprint (`jkt` for DPoP, RFC 9449 §6; `jwk`, `jku`, `kid`, RFC 7800 §3) is one this
 * proxy cannot check, so such a token is refused rather than treated as bearer.
 */
export function readConfirmation(claims: Readonly<Record<string, unknown>>): Confirmation {
  if (!Object.hasOwn(claims, 'cnf')) return NONE;
  const cnf = claims.cnf;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return { kind: 'unsupported', detail: 'cnf is not an object' };
  const members = Object.keys(cnf);
  const other = members.find((m) => m !== 'x5t#S256');
  if (other !== undefined) return { kind: 'unsupported', detail: `cnf.${other} cannot be checked here` };
  const thumbprint = (cnf as Record<string, unknown>)['x5t#S256'];
  if (typeof thumbprint !== 'string' || thumbprint === '') return { kind: 'unsupported', detail: 'cnf["x5t#S256"] is not a string' };
  return { kind: 'x5t#S256', thumbprint };
}
