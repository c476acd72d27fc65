// The `device` block (SPEC §3, §6): which device-trust issuers (MDMs, endpoint agents)
// may vouch for a device, how their assertions arrive, and how fresh they must be. The
// same closures as for bearer issuers (../jwt/schema.ts) apply — asymmetric algorithms
// only, keys from an https JWKS or a local file, a capped lifetime and clock tolerance —
// because a posture assertion is a credential too: whoever can forge one is "compliant".
import { z } from 'zod';
import { HOP_BY_HOP, FORWARDED_HEADERS, normalizeHeaderName } from '../../basics/headers.ts';
import { stripEntryProblem } from '../../basics/identity-headers.ts';
import { algorithm, boundedDuration, clockTolerance, jwksUrl, maxLifetime, oneKeySource } from '../jwt/schema.ts';

export const DEFAULT_POSTURE_HEADER = 'X-Device-Posture';

/**
 * Headers another part of ztproxy reads or sets for itself: as the posture header they
 * would be removed from every request (a bearer token the route passes on, a session
 * cookie) or fight over one value (X-Request-Id).
 */
const TAKEN = new Set(['authorization', 'cookie', 'x-request-id', 'x-real-ip', 'x-zt-assertion']);

/** The posture header's name: a header token that nothing else in the request depends on. */
const headerName = z
  .string()
  .superRefine((s, ctx) => {
    const problem = stripEntryProblem(s, 'name');
    const norm = normalizeHeaderName(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    else if (HOP_BY_HOP.has(norm)) ctx.addIssue({ code: 'custom', message: `${s} is a hop-by-hop header; it never reaches a stage` });
    else if (FORWARDED_HEADERS.has(norm) || TAKEN.has(norm) || norm.startsWith('sec-websocket-')) {
      ctx.addIssue({ code: 'custom', message: `${s} is a header ztproxy reads or sets for itself; name the posture header something of its own` });
    }
  })
  .default(DEFAULT_POSTURE_HEADER);

const issuerSchema = z
  .strictObject({
    /** The exact `iss` of this issuer's assertions (a name such as device-agent.example.com, or a URL), compared as a string. */
    issuer: z.string().min(1, 'must name the issuer (the exact `iss` value of its assertions)'),
    jwksUri: jwksUrl.optional(),
    jwksFile: z.string().min(1, 'must name a file').optional(),
    /** Default [ES256]: what device agents sign with; never none or HMAC. */
    algorithms: z.array(algorithm).min(1, 'must list at least one algorithm').default(['ES256']),
    /** Milliseconds (written as a duration); at most 60 s. Default 30s. */
    clockTolerance,
    /** Milliseconds (written as a duration): `exp − iat` above it is refused (`posture-lifetime-too-long`). Default 24h. */
    maxLifetime,
  })
  .superRefine(oneKeySource);

/** The longest `maxAge` accepted: posture older than a day describes a device that may have changed entirely. */
export const MAX_POSTURE_MAX_AGE_MS = 24 * 3600_000;

export const deviceSchema = z.strictObject({
  /** The request header carrying the assertion (compared case-insensitively). Default X-Device-Posture. */
  header: headerName,
  issuers: z
    .array(issuerSchema)
    .min(1, 'list at least one device-trust issuer, or leave device out')
    .superRefine((issuers, ctx) => {
      const seen = new Map<string, number>();
      issuers.forEach((c, i) => {
        const first = seen.get(c.issuer);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `duplicate issuer (also device.issuers.${first}.issuer)` });
        else seen.set(c.issuer, i);
      });
    }),
  /** Milliseconds (written as a duration): an assertion whose `iat` is older is stale (`posture-stale`). Default 5m. */
  maxAge: boundedDuration(1000, MAX_POSTURE_MAX_AGE_MS, 'from 1s to 24h', '5m'),
  /** Verified assertions kept (by hash of the token) until their exp or maxAge, whichever is first. max 0: verify every request. */
  cache: z.strictObject({ max: z.number().int().nonnegative().default(10_000) }).prefault({}),
});

export type DeviceConfig = z.output<typeof deviceSchema>;
export type DeviceIssuerConfig = DeviceConfig['issuers'][number];
