// How the CLI talks HTTPS: to the proxy (its CLI metadata) and to the OpenID Provider
// (discovery, token, revocation — through openid-client, never a hand-rolled OAuth
// client). Certificates are checked against the system CAs plus an optional extra bundle
// (`--ca`, for a proxy or OP with a private CA); plain http is allowed for an issuer on
// loopback only (the dev OP), as identity.oidc allows it.
import { rootCertificates } from 'node:tls';
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { isLoopbackHost, secureUrlProblem } from '../identity/jwt/schema.ts';

/** Time limit for each call to the proxy or the OP. */
export const HTTP_TIMEOUT_MS = 15_000;

/** An undici dispatcher trusting the system CAs and, when given, the PEM bundle `ca`. */
export function trustingAgent(ca: Buffer | undefined): Agent {
  return new Agent({
    connect: ca === undefined ? {} : { ca: [...rootCertificates, ca.toString('utf8')] },
    headersTimeout: HTTP_TIMEOUT_MS,
    bodyTimeout: HTTP_TIMEOUT_MS,
  });
}

/** What is wrong with an issuer identifier the CLI is told to use, or undefined. */
export function issuerUrlProblem(issuer: string): string | undefined {
  const problem = secureUrlProblem(issuer, "the OpenID Provider's issuer identifier");
  if (problem !== undefined) return problem;
  return new URL(issuer).search ? 'must not have a query' : undefined;
}

/**
 * openid-client's Configuration for the public CLI client at `issuer`: discovery checks
 * that the document's `issuer` is exactly the one asked for (OIDC Discovery §4.3), so a
 * proxy's metadata naming one OP cannot route the login to another (mix-up).
 */
export async function discoverOp(issuer: string, clientId: string, agent: Agent): Promise<client.Configuration> {
  const url = new URL(issuer);
  const insecure = url.protocol === 'http:' && isLoopbackHost(url.hostname);
  const fetcher: client.CustomFetch = (input, init) => undiciFetch(input, { ...init, dispatcher: agent });
  return client.discovery(url, clientId, { token_endpoint_auth_method: 'none' }, client.None(), {
    timeout: HTTP_TIMEOUT_MS / 1000,
    [client.customFetch]: fetcher,
    execute: insecure ? [client.allowInsecureRequests] : [],
  });
}

/** A one-line, printable account of an OP or network failure (never a token). */
export function describeOpError(err: unknown): string {
  if (err instanceof client.ResponseBodyError) {
    return `${err.error}${err.error_description ? `: ${printableText(err.error_description)}` : ''} (HTTP ${err.status})`;
  }
  if (err instanceof client.AuthorizationResponseError) {
    return `${err.error}${err.error_description ? `: ${printableText(err.error_description)}` : ''}`;
  }
  // openid-client wraps oauth4webapi's check ('unexpected "iss" (issuer) response
  // parameter value') in a generic "invalid response encountered": say both.
  const e = err as { message?: unknown; cause?: { message?: unknown; code?: unknown } };
  const cause = typeof e.cause?.message === 'string' && e.cause.message !== '' ? e.cause.message : e.cause?.code;
  return printableText(`${typeof e.message === 'string' ? e.message : String(err)}${typeof cause === 'string' ? ` (${cause})` : ''}`);
}

/** Text from a remote party, safe for one terminal line: no control characters, bounded. */
export function printableText(s: string, max = 200): string {
  const clean = s.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
