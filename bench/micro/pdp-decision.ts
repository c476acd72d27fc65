// Micro-benchmark: a remote-PDP route's authorize stage answered from the decision cache
// (src/pipeline/stages/authorize.ts remoteAuthorizeStage: the policy input, the embedded
// gate, the cache key built from the document's values with a path-template match, the
// LRU lookup — synchronous on a hit, no document built), beside the embedded authorize
// stage with the same gate alone (`authenticated: true`), the budget a cached remote
// decision is measured against (issue #7: remote PDP ÷ embedded ≥ 0.9 with the decision
// cache); the parts of a hit (the key, the template match); and what a miss builds (the
// AuthZEN and OPA documents) beside the document + SHA-256 key every hit built before.
// The cache is filled by one real call to a loopback AuthZEN PDP in this process.
// Run: npx node bench/micro/pdp-decision.ts [--quick] [--json]
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Subject } from '../../src/basics/subject.ts';
import { RemotePdp } from '../../src/pdp/index.ts';
import { RequestContext, type CompiledRoute, type Snapshot } from '../../src/pipeline/context.ts';
import { authorizeStage, remoteAuthorizeStage } from '../../src/pipeline/stages/authorize.ts';
import { compilePolicy, type PolicyInput } from '../../src/policy/index.ts';
import { TemplateMatcher } from '../../src/policy/path-templates.ts';
import { remoteCacheKey, remoteDocument, type RemoteRoute } from '../../src/policy/remote-input.ts';
import { finish, measure, measuredTable, microOptions, setupLine } from './measure.ts';

const opts = microOptions();

const subject: Subject = {
  source: 'bearer', issuer: 'https://idp.example.com', sub: 'alice', email: 'alice@example.com', emailVerified: true,
  groups: ['eng', 'ops'], claims: {}, authTime: 1_767_225_600, acr: undefined, amr: ['pwd'],
};
const remoteRoute: RemoteRoute = { name: 'todo-api', templates: new TemplateMatcher(['/users/{userId}', '/todos', '/todos/{todoId}'], { fallbackId: '/' }), pathPrefix: '/' };
const gate = compilePolicy({ allow: { authenticated: true } });

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"decision":true}'));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const pdp = new RemotePdp({
  mode: 'authzen', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeout: 1000, cache: { ttl: 600_000, max: 1000 }, breaker: { failures: 5, coolDown: 10_000 },
});

function context(route: Partial<CompiledRoute>): RequestContext {
  const ctx = new RequestContext('req-1', {} as Snapshot, {} as IncomingMessage, undefined, undefined);
  ctx.method = 'PUT';
  ctx.host = 'api.example.com';
  ctx.path = '/todos/42';
  ctx.policyPath = ctx.path;
  ctx.clientIp = '10.1.2.3';
  ctx.subject = subject;
  ctx.route = { name: 'todo-api', policy: gate, ...route } as CompiledRoute;
  return ctx;
}
const embedded = context({ remote: undefined });
const remote = context({ remote: { pdp, mode: 'authzen', route: remoteRoute } });

// The first call asks the PDP and fills the cache; every later one must be a synchronous hit.
const first = remoteAuthorizeStage.run(remote);
if (!('next' in (first instanceof Promise ? await first : first))) throw new Error('the PDP should allow');
const hit = (): unknown => {
  const result = remoteAuthorizeStage.run(remote);
  if (result instanceof Promise || remote.policySource !== 'cache') throw new Error('not a decision-cache hit');
  return result;
};
hit();
const input: PolicyInput = remote.policyInput!;

const results = [
  measure(opts, 'embedded authorize stage (gate only)', () => authorizeStage.run(embedded)),
  measure(opts, 'remote authorize stage, decision-cache hit (AuthZEN)', hit),
  measure(opts, '  of which the cache key, AuthZEN', () => remoteCacheKey('authzen', input, remoteRoute)),
  measure(opts, '  of which the path-template match', () => remoteRoute.templates!.match(input.path)),
  measure(opts, 'document, AuthZEN (a miss builds it)', () => remoteDocument('authzen', input, remoteRoute)),
  measure(opts, 'document + SHA-256 (the former cache key)', () => createHash('sha256').update(remoteDocument('authzen', input, remoteRoute)!).digest('base64url')),
  measure(opts, 'cache key, OPA', () => remoteCacheKey('opa', input, remoteRoute)),
  measure(opts, 'document, OPA (for comparison)', () => remoteDocument('opa', input, remoteRoute)),
];
await pdp.close();
server.close();

finish(opts, {
  name: 'pdp-decision',
  title: 'Remote PDP decision-cache hit',
  setup: setupLine(opts, 'remoteAuthorizeStage.run on a route with an AuthZEN PDP (loopback, in process) whose decision cache holds the answer, beside authorizeStage.run with the same embedded gate'),
  tables: [measuredTable('Authorize stage with a remote PDP, cache hit', results)],
  raw: { results },
});
