// `identity.oidc`: the OpenID Provider browsers log in at (SPEC §3, §5). The proxy is a
// relying party using the authorization code flow with PKCE; see relying-party.ts.
import { z } from 'zod';
import { parseDuration } from '../../basics/duration.ts';
import { secureUrlProblem } from '../jwt/schema.ts';

function issuerProblem(text: string): string | undefined {
  const problem = secureUrlProblem(text, "the OpenID Provider's issuer identifier");
  if (problem !== undefined) return problem;
  return new URL(text).search ? 'must not have a query or fragment (OpenID Connect Discovery §2)' : undefined;
}

const httpsUrl = z.string().superRefine((s, ctx) => {
  const problem = secureUrlProblem(s, 'where the provider sends the browser');
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const scope = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be one OAuth scope token (no spaces or quotes)');
const claimName = z.string().min(1, 'must name a claim').max(256);

export const oidcSchema = z.strictObject({
  /** Issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`. */
  issuer: z.string().superRefine((s, ctx) => {
    const problem = issuerProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }),
  clientId: z.string().min(1, 'must be the client_id registered at the provider'),
  /** Confidential client (client_secret_basic). Left out: a public client, protected by PKCE alone. */
  clientSecret: z.string().min(1, 'must not be empty (leave the key out for a public client)').optional(),
  scopes: z
    .array(scope)
    .default(['openid', 'email', 'profile'])
    .refine((s) => s.includes('openid'), { message: 'must include openid (an ID token is what a login proves)' }),
  /** Where the provider sends the browser after logout (must be registered there). */
  postLogoutRedirectUri: httpsUrl.optional(),
  /** Merge the userinfo endpoint's claims (groups, email) into the session at login. */
  userinfo: z.boolean().default(true),
  /** Further claims kept in the session for `claim` rules (those rules' names are kept anyway). */
  claims: z.array(claimName).default([]),
  groupsClaim: claimName.default('groups'),
  /** Time limit for each call to the provider (discovery, token, userinfo). */
  timeout: z
    .string()
    .superRefine((s, ctx) => {
      try {
        const ms = parseDuration(s);
        if (ms < 100 || ms > 60_000) ctx.addIssue({ code: 'custom', message: 'must be from 100ms to 60s' });
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .transform((s) => parseDuration(s))
    .prefault('5s'),
});

export type OidcConfig = z.output<typeof oidcSchema>;
