// `ztproxy explain -c FILE --request JSON`: runs a described request through the same
// canonicalisation, route selection and compiled policy as the proxy, and prints the
// decision with the trail of rules that produced it. Nothing is forwarded.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig, formatIssues } from '../config/load.ts';
import { buildSnapshot, SnapshotError } from '../assembly/snapshot.ts';
import { canonicalizeHost, canonicalizePath } from '../basics/canonical.ts';
import { REPLIES } from '../basics/errors.ts';
import { selectRoute, type RouteTarget } from '../pipeline/stages/route-match.ts';
import { UpstreamRegistry } from '../proxy/upstream.ts';
import type { Subject } from '../basics/subject.ts';

const requestSchema = z.strictObject({
  method: z.string().default('GET'),
  host: z.string(),
  path: z.string().default('/'),
  sourceIp: z.string().default('127.0.0.1'),
  spiffeId: z.string().optional(),
  /** ISO 8601 time to evaluate `time` criteria at; default now. */
  time: z.iso.datetime({ offset: true }).optional(),
  /** The authenticated caller, as a verified token would describe it; absent: anonymous. */
  subject: z
    .strictObject({
      sub: z.string().min(1),
      issuer: z.string().default('explain'),
      email: z.string().optional(),
      emailVerified: z.boolean().default(true),
      groups: z.array(z.string()).default([]),
      claims: z.record(z.string(), z.unknown()).default({}),
      /** ISO 8601 time of the login, for `authAge`. */
      authTime: z.iso.datetime({ offset: true }).optional(),
      acr: z.string().optional(),
      amr: z.array(z.string()).default([]),
    })
    .optional(),
});

function subjectOf(s: z.output<typeof requestSchema>['subject']): Subject | undefined {
  if (!s) return undefined;
  return {
    source: 'bearer',
    issuer: s.issuer,
    sub: s.sub,
    email: s.email,
    emailVerified: s.emailVerified,
    groups: s.groups,
    claims: { ...s.claims, sub: s.sub, iss: s.issuer },
    authTime: s.authTime ? Math.floor(Date.parse(s.authTime) / 1000) : undefined,
    acr: s.acr,
    amr: s.amr,
  };
}

export async function runExplain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, request: { type: 'string', short: 'r' } },
    strict: true,
  });
  if (!values.config || !values.request) {
    process.stderr.write('usage: ztproxy explain -c FILE --request \'{"method":"GET","host":"app.example.com","path":"/x"}\'\n');
    return 2;
  }
  let json: unknown;
  try {
    json = JSON.parse(values.request);
  } catch (err) {
    process.stderr.write(`--request: not JSON (${(err as Error).message})\n`);
    return 2;
  }
  const parsed = requestSchema.safeParse(json);
  if (!parsed.success) {
    for (const line of formatIssues(parsed.error.issues)) process.stderr.write(`--request.${line}\n`);
    return 2;
  }
  const request = parsed.data;
  const loaded = await loadConfig(values.config);
  if (!loaded.ok) {
    for (const problem of loaded.errors) process.stdout.write(`${problem}\n`);
    return 1;
  }
  const registry = new UpstreamRegistry();
  try {
    const snapshot = await buildSnapshot(loaded.config, 1, registry);
    registry.retain(snapshot.upstreams);
    const q = request.path.indexOf('?');
    const path = canonicalizePath(q < 0 ? request.path : request.path.slice(0, q));
    const host = canonicalizeHost(request.host);
    const out: Record<string, unknown> = { request };
    if (!path.ok || !host) {
      out.result = { status: 400, reason: !host ? 'invalid-host' : (path as { reason: string }).reason };
    } else {
      const target: RouteTarget = { host: host.name, path: path.path, encodedSlash: path.encodedSlash, route: undefined, policyPath: '' };
      const selected = selectRoute(snapshot.router, target);
      const route = target.route;
      if ('reply' in selected) {
        out.result = {
          status: REPLIES[selected.reply.code].status,
          ...(route ? { route: route.name, caseInsensitive: route.caseInsensitive } : {}),
          reason: selected.reply.details,
        };
      } else if (route) {
        const explanation = route.policy.explain({
          method: request.method.toUpperCase(),
          host: host.name,
          path: target.policyPath,
          sourceIp: request.sourceIp,
          spiffeId: request.spiffeId,
          subject: subjectOf(request.subject),
          now: request.time ? Date.parse(request.time) : Date.now(),
        });
        const d = explanation.decision;
        out.result = {
          status: d.effect === 'allow' ? 'forwarded' : d.effect === 'error' ? 503 : d.needsAuthentication ? 401 : 403,
          route: route.name,
          canonicalPath: path.path,
          // What the policy compared: the case-folded path on a case-insensitive route.
          caseInsensitive: route.caseInsensitive,
          policyPath: target.policyPath,
          decision: explanation.decision,
          trail: explanation.trail,
        };
      }
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof SnapshotError) {
      for (const problem of err.errors) process.stdout.write(`${problem}\n`);
      return 1;
    }
    throw err;
  } finally {
    await registry.destroyAll();
  }
}
