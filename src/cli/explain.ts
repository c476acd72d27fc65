// `ztproxy explain -c FILE --request JSON`: runs a described request through the same
// canonicalisation, route selection and compiled policy as the proxy, and prints the
// decision with the trail of rules that produced it. Nothing is forwarded.
import { parseArgs } from 'node:util';
import { loadConfig, formatIssues } from '../config/load.ts';
import { buildSnapshot, SnapshotError } from '../assembly/snapshot.ts';
import { UpstreamRegistry } from '../proxy/upstream.ts';
import { cannotOccur, describedRequestSchema, judgeOffline, offlineStatus, resolveRequest } from './described-request.ts';

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
  const parsed = describedRequestSchema.safeParse(json, { reportInput: true });
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
    const out: Record<string, unknown> = { request };
    // Judged all the same (what the policy says), but flagged: the proxy never sees it.
    const impossible = cannotOccur(snapshot, request);
    if (impossible !== undefined) out.cannotOccur = impossible;
    const resolved = resolveRequest(snapshot, request);
    if (resolved.kind === 'refused') {
      const route = resolved.route;
      out.result = {
        status: resolved.status,
        ...(route ? { route: route.name, caseInsensitive: route.caseInsensitive } : {}),
        reason: resolved.reason,
      };
    } else {
      const route = resolved.route;
      const judged = judgeOffline(route, resolved.input);
      const { explanation, pdp, needsSubject, stepUp } = judged;
      out.result = {
        // `pdp`: the gate allows and the route's remote PDP decides (shown in `pdp`, not asked).
        status: offlineStatus(judged),
        route: route.name,
        canonicalPath: resolved.canonicalPath,
        // What the policy compared: the case-folded path on a case-insensitive route.
        caseInsensitive: route.caseInsensitive,
        policyPath: resolved.input.path,
        decision: explanation.decision,
        trail: explanation.trail,
        ...(pdp !== undefined ? { pdp } : {}),
        ...(needsSubject ? { reason: 'pdp-needs-subject' } : {}),
        // A fresh login would be allowed (authAge): the client is asked to log in again.
        ...(stepUp ? { reason: 'step-up-required' } : {}),
        // What the route's shadowPolicy would have said (never enforced).
        ...(route.shadowPolicy ? { shadow: route.shadowPolicy.explain(resolved.input) } : {}),
      };
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
