// `spiffe: {id}` | `{trustDomain, pathPrefix?}` — the workload identity from a verified
// client certificate's SPIFFE URI SAN (SPEC §5). `id` compares exactly; `trustDomain`
// with an optional `pathPrefix` matches whole path segments, so `/ns/prod` covers
// `/ns/prod/sa/api` but never `/ns/production`. A request without a SPIFFE ID never
// matches. Config values must be valid SPIFFE IDs (SPIFFE-ID.md §2: lowercase trust
// domain, segments of [A-Za-z0-9._-], no dot segments): the TLS layer only hands in
// valid IDs, so anything else could never match and would only hide a typo.
import { z } from 'zod';
import type { Criterion, Matcher } from '../criterion.ts';
import { objectError, presentKeys, whenObjectParsed } from '../schema-helpers.ts';
import { hasSegmentPrefix, normalizeSegmentPrefix } from '../segment-prefix.ts';
import type { PolicyInput } from '../types.ts';

const SCHEME = 'spiffe://';
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_ID_BYTES = 2048;
const MAX_TRUST_DOMAIN = 255;

function trustDomainProblem(td: string): string | undefined {
  if (td.length === 0) return 'the trust domain is empty';
  if (td.length > MAX_TRUST_DOMAIN) return `a trust domain has at most ${MAX_TRUST_DOMAIN} characters`;
  if (!TRUST_DOMAIN.test(td)) return 'a trust domain has only lowercase letters, digits, ".", "-" and "_"';
  return undefined;
}

/** `path` starts with '/'; a trailing '/' is allowed only when `trailingSlash`. */
function pathProblem(path: string, trailingSlash: boolean): string | undefined {
  const body = trailingSlash && path.endsWith('/') ? path.slice(0, -1) : path;
  if (body === '') return undefined;
  for (const segment of body.slice(1).split('/')) {
    if (segment === '') return 'path segments must not be empty';
    if (segment === '.' || segment === '..') return 'path segments must not be "." or ".."';
    if (!SEGMENT.test(segment)) return `path segment ${JSON.stringify(segment)} has a character outside [A-Za-z0-9._-]`;
  }
  return undefined;
}

function spiffeIdProblem(id: string): string | undefined {
  if (Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) return `a SPIFFE ID has at most ${MAX_ID_BYTES} bytes`;
  if (!id.startsWith(SCHEME)) return `a SPIFFE ID starts with "${SCHEME}"`;
  const rest = id.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const td = slash === -1 ? rest : rest.slice(0, slash);
  return trustDomainProblem(td) ?? (slash === -1 ? undefined : pathProblem(rest.slice(slash), false));
}

const refined = (check: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const problem = check(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

const KEYS = ['id', 'trustDomain'] as const;

const schema = z
  .strictObject(
    {
      id: refined(spiffeIdProblem).optional(),
      trustDomain: refined(trustDomainProblem).optional(),
      pathPrefix: refined((p) => (p.startsWith('/') ? pathProblem(p, true) : 'a path prefix starts with "/"')).optional(),
    },
    { error: objectError('spiffe', 'either id or trustDomain (with an optional pathPrefix)') },
  )
  .superRefine(
    (value, ctx) => {
      const present = presentKeys(value, KEYS);
      if (present.length === 0) {
        ctx.addIssue({ code: 'custom', message: 'spiffe needs id or trustDomain (with an optional pathPrefix)' });
      } else if (present.length > 1) {
        ctx.addIssue({ code: 'custom', message: 'spiffe takes id or trustDomain, not both' });
      } else if (value.pathPrefix !== undefined && value.trustDomain === undefined) {
        ctx.addIssue({ code: 'custom', path: ['pathPrefix'], message: 'pathPrefix goes with trustDomain, not with id' });
      }
    },
    whenObjectParsed,
  )
  .meta({
    oneOf: [{ required: ['id'] }, { required: ['trustDomain'] }],
    dependentRequired: { pathPrefix: ['trustDomain'] },
  });

/** Without a verified client certificate the workload's identity is unknown, not "another one". */
function hasSpiffeId(input: PolicyInput): boolean {
  return input.spiffeId !== undefined;
}

class ExactId implements Matcher {
  readonly #id: string;
  constructor(id: string) {
    this.#id = id;
  }
  readonly known = hasSpiffeId;
  matches(input: PolicyInput): boolean {
    return input.spiffeId === this.#id;
  }
  describe(input: PolicyInput, matched: boolean): string {
    if (input.spiffeId === undefined) return 'no SPIFFE ID (no verified client certificate)';
    return `SPIFFE ID ${input.spiffeId} ${matched ? 'equals' : 'does not equal'} ${this.#id}`;
  }
}

class TrustDomainPrefix implements Matcher {
  /** `spiffe://td/ns/prod`, matched on whole segments. */
  readonly #base: string;
  readonly #shown: string;
  constructor(trustDomain: string, pathPrefix: string | undefined) {
    this.#base = SCHEME + trustDomain + normalizeSegmentPrefix(pathPrefix ?? '');
    this.#shown = `trust domain ${trustDomain}${pathPrefix === undefined ? '' : ` under ${pathPrefix}`}`;
  }
  readonly known = hasSpiffeId;
  matches(input: PolicyInput): boolean {
    const id = input.spiffeId;
    return id !== undefined && hasSegmentPrefix(id, this.#base);
  }
  describe(input: PolicyInput, matched: boolean): string {
    if (input.spiffeId === undefined) return 'no SPIFFE ID (no verified client certificate)';
    return `SPIFFE ID ${input.spiffeId} is ${matched ? '' : 'not '}in ${this.#shown}`;
  }
}

export const spiffe: Criterion<typeof schema> = {
  schema,
  compile: (value) => {
    if (value.id !== undefined) return new ExactId(value.id);
    if (value.trustDomain !== undefined) return new TrustDomainPrefix(value.trustDomain, value.pathPrefix);
    throw new TypeError('spiffe criterion without id or trustDomain (config not validated by policySchema)');
  },
};
