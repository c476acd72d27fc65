// `identity.cli`: what `ztproxy login` needs to log a person in from a terminal (issue #6
// point 2), published by the proxy at /.well-known/ztproxy/cli-configuration. The CLI is
// a public native client (RFC 8252: no secret, PKCE); its access tokens come back to the
// proxy as bearer tokens, so an `identity.jwt` entry must accept them — `cliIssues`
// checks that across keys, because otherwise every CLI login would end in a 401.
import { z } from 'zod';
import { secureUrlProblem } from '../identity/jwt/schema.ts';

/** Scopes asked for when the config names none: a refresh token and the claims policies read. */
export const DEFAULT_CLI_SCOPES = ['openid', 'offline_access', 'email', 'profile', 'groups'];

const scope = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be one OAuth scope token (no spaces or quotes)');

const issuer = z.string().superRefine((s, ctx) => {
  const problem = secureUrlProblem(s, "the OpenID Provider's issuer identifier");
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  else if (new URL(s).search) ctx.addIssue({ code: 'custom', message: 'must not have a query (OpenID Connect Discovery §2)' });
});

/** RFC 8707 §2: a resource indicator is an absolute URI without a fragment. */
const resource = z.string().superRefine((s, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(s);
  } catch {
    url = undefined;
  }
  if (url === undefined || s.includes('#')) ctx.addIssue({ code: 'custom', message: 'must be an absolute URI without a fragment (RFC 8707 §2), e.g. https://api.example.com or urn:example:api' });
});

export const cliSchema = z.strictObject({
  /** The OP the CLI logs in at; default identity.oidc.issuer. */
  issuer: issuer.optional(),
  /** The OP's client_id of the public CLI client (no secret: it is published to everyone). */
  clientId: z.string().min(1, 'must be the client_id of the public CLI client registered at the provider').max(256),
  scopes: z
    .array(scope)
    .default(DEFAULT_CLI_SCOPES)
    .refine((s) => s.includes('openid'), { message: 'must include openid (the ID token names who logged in)' }),
  /** RFC 8707 resource the CLI asks the OP for: the audience of its access tokens. */
  resource: resource.optional(),
});

export type CliConfig = z.output<typeof cliSchema>;

interface IdentityShape {
  readonly cli?: CliConfig | undefined;
  readonly oidc?: { readonly issuer: string; readonly clientId: string; readonly clientSecret?: string | undefined } | undefined;
  readonly jwt?: readonly { readonly issuer: string; readonly audience: readonly string[] }[] | undefined;
}

/** The issuer the CLI logs in at: its own `issuer`, else the browser login's. */
export function cliIssuer(identity: IdentityShape): string | undefined {
  return identity.cli?.issuer ?? identity.oidc?.issuer;
}

/** Problems across identity.cli, identity.oidc and identity.jwt (paths relative to identity). */
export function cliIssues(identity: IdentityShape): { path: (string | number)[]; message: string }[] {
  const cli = identity.cli;
  if (cli === undefined) return [];
  const iss = cliIssuer(identity);
  if (iss === undefined) {
    return [{ path: ['cli', 'issuer'], message: 'is required when identity.oidc is not configured (the OpenID Provider the CLI logs in at)' }];
  }
  const issues: { path: (string | number)[]; message: string }[] = [];
  const oidc = identity.oidc;
  if (oidc?.clientSecret !== undefined && oidc.issuer === iss && oidc.clientId === cli.clientId) {
    issues.push({
      path: ['cli', 'clientId'],
      message: `is the proxy's confidential client (identity.oidc.clientId, which has a secret): register a separate public client for the CLI (token_endpoint_auth_method none, loopback redirect http://127.0.0.1/…)`,
    });
  }
  const entries = (identity.jwt ?? []).filter((j) => j.issuer === iss);
  const audience = cli.resource === undefined ? 'the audience of its access tokens' : cli.resource;
  if (entries.length === 0) {
    issues.push({
      path: ['cli'],
      message: `no identity.jwt entry accepts the CLI's tokens: the CLI presents its access token as a bearer token, so add one with issuer ${iss}, audience ${audience} and the provider's jwksUri`,
    });
  } else if (cli.resource !== undefined && !entries.some((j) => j.audience.includes(cli.resource!))) {
    issues.push({
      path: ['cli', 'resource'],
      message: `no identity.jwt entry with issuer ${iss} lists audience ${cli.resource}: the CLI's access tokens carry it as aud and would all be refused; add it to that entry's audience`,
    });
  }
  return issues;
}
