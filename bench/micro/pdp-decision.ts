// Micro-benchmark: what a remote-PDP route costs per request before and beside the
// network — the document (src/policy/remote-input.ts, OPA and AuthZEN shapes) with a
// template match, its SHA-256 cache key, and a whole RemotePdp.decide answered from the
// decision cache (synchronous) — next to the embedded engine's decide on the same
// request (`authenticated: true`, the default gate), the budget a cached remote decision
// is measured against (issue #5: ≥ 0.9× the embedded engine's throughput end to end).
// The cache is filled by one real call to a loopback AuthZEN PDP in this process.
// Run: npx node bench/micro/pdp-decision.ts [iterations]
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Subject } from '../../src/basics/subject.ts';
import { RemotePdp } from '../../src/pdp/index.ts';
import { compilePolicy, type PolicyInput } from '../../src/policy/index.ts';
import { TemplateMatcher } from '../../src/policy/path-templates.ts';
import { remoteDocument, type RemoteRoute } from '../../src/policy/remote-input.ts';

const ITERATIONS = Number(process.argv[2] ?? 500_000);

const subject: Subject = {
  source: 'bearer', issuer: 'https://idp.example.com', sub: 'alice', email: 'alice@example.com', emailVerified: true,
  groups: ['eng', 'ops'], claims: {}, authTime: 1_767_225_600, acr: undefined, amr: ['pwd'],
};
const input: PolicyInput = { method: 'PUT', host: 'api.example.com', path: '/todos/42', sourceIp: '10.1.2.3', spiffeId: undefined, now: Date.now(), subject };
const route: RemoteRoute = { name: 'todo-api', templates: new TemplateMatcher(['/users/{userId}', '/todos', '/todos/{todoId}'], { fallbackId: '/' }), pathPrefix: '/' };
const gate = compilePolicy({ allow: { authenticated: true } });

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"decision":true}'));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const pdp = new RemotePdp({
  mode: 'authzen', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeout: 1000, cache: { ttl: 600_000, max: 1000 }, breaker: { failures: 5, coolDown: 10_000 },
});
await pdp.decide(remoteDocument('authzen', input, route)!, 'warm');

function run(label: string, step: () => number): void {
  // Best of 5 rounds: on a shared machine the mean measures the neighbours.
  const rounds = Math.max(1, Math.floor(ITERATIONS / 5));
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < 5; r++) {
    const start = performance.now();
    for (let i = 0; i < rounds; i++) sink += step();
    best = Math.min(best, ((performance.now() - start) * 1e6) / rounds);
  }
  console.log(`${label.padEnd(44)} ${best.toFixed(0).padStart(6)} ns/request  (best of 5${sink > 0 ? '' : ', -'})`);
}

run('embedded decide (authenticated: true)', () => (gate.decide(input).effect === 'allow' ? 1 : 0));
run('template match /todos/42', () => route.templates!.match(input.path).id.length);
run('document, OPA', () => remoteDocument('opa', input, route)!.length);
run('document, AuthZEN', () => remoteDocument('authzen', input, route)!.length);
run('document + sha256 key, AuthZEN', () => createHash('sha256').update(remoteDocument('authzen', input, route)!).digest('base64url').length);
run('gate + document + cached decide, AuthZEN', () => {
  if (gate.decide(input).effect !== 'allow') return 0;
  const answer = pdp.decide(remoteDocument('authzen', input, route)!, 'id');
  return answer instanceof Promise ? 0 : answer.decision.effect === 'allow' ? 1 : 0;
});

await pdp.close();
server.close();
