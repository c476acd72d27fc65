// The scenarios of `npm run bench`, in the order they run within a round. Adding one is
// adding an object here (and, if it is compared, a ratio in RATIOS or a target in
// report.ts). Every system under test runs on SUT_CPU; the upstream, the PDP and the load
// generators on LOAD_CPU (bench/lib/pin.ts). Each system is started once, before the first
// round, and stays up until the last (see bench/README.md, "Rounds").
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { Child } from './children.ts';
import { findHaproxy, startHaproxy } from './haproxy.ts';
import { findNginx, startNginx } from './nginx.ts';
import { SUT_CPU } from './pin.ts';
import type { BenchContext, RatioSpec, Scenario, Target } from './scenario.ts';
import { startZtproxy, type RunningZtproxy, type ZtproxyOptions, type ZtproxyRouteInput } from './ztproxy.ts';
import { startUpstream } from './upstream.ts';
import { EnvelopeCodec, deriveSessionKey } from '../../src/identity/session/codec.ts';
import { DEV_DEVICE_ISSUER } from '../../src/cli/posture.ts';

/** A scenario whose setup starts one ztproxy (on SUT_CPU) and whose teardown stops it. */
function ztproxyScenario(
  meta: Pick<Scenario, 'name' | 'description' | 'sweep' | 'latency' | 'tool'>,
  prepare: (ctx: BenchContext) => Promise<{ options: Omit<ZtproxyOptions, 'name' | 'cpu'>; target?: Partial<Target>; extra?: Child }>,
): Scenario & { readonly running: () => RunningZtproxy | undefined } {
  let proxy: RunningZtproxy | undefined;
  let extra: Child | undefined;
  return {
    ...meta,
    running: () => proxy,
    async setup(ctx: BenchContext): Promise<Target> {
      const prepared = await prepare(ctx);
      extra = prepared.extra;
      proxy = await startZtproxy(ctx, { ...prepared.options, name: meta.name, cpu: SUT_CPU });
      return { url: `${proxy.url}/`, pid: proxy.child.proc.pid, adminUrl: proxy.adminUrl, ...prepared.target };
    },
    async teardown(): Promise<void> {
      await proxy?.child.stop();
      await extra?.stop();
      proxy = undefined;
      extra = undefined;
    },
  };
}

/** The upstream itself over plain HTTP: the ceiling every proxy is measured against. */
export function directScenario(): Scenario {
  return {
    name: 'direct',
    description: 'the upstream directly, plain HTTP keep-alive, no proxy: the ceiling of this machine and load generator (the upstream runs on the load core)',
    latency: true,
    async setup(ctx: BenchContext): Promise<Target> {
      return { url: `${ctx.upstream}/`, pid: ctx.upstreamPid };
    },
    async teardown(): Promise<void> {},
  };
}

/** ztproxy with TLS termination, one public route, no authentication: the forwarding cost. */
export function ztproxyForwardScenario() {
  return ztproxyScenario(
    { name: 'ztproxy', description: 'ztproxy forward-only: TLS termination, request chain, one route with allow {accept: true}, no auth', sweep: true, latency: true },
    async () => ({ options: {} }),
  );
}

/** A public readiness route and the measured route, which needs `authenticated: true`. */
function authenticatedRoutes(ctx: BenchContext): ZtproxyRouteInput[] {
  return [
    { name: 'ready', match: { pathPrefix: '/ready' }, upstream: ctx.upstream, policy: { allow: { accept: true } } },
    { name: 'bench', match: { pathPrefix: '/' }, upstream: ctx.upstream, policy: { allow: { authenticated: true } } },
  ];
}

async function benchToken(ctx: BenchContext): Promise<string> {
  const { stdout } = await promisify(execFile)(
    ctx.node,
    ['src/cli/main.ts', 'token', '--sub', 'bench', '--groups', 'eng', '--ttl', '2h', '--key', join(ctx.certs.dir, 'dev-issuer.key')],
    { cwd: ctx.root },
  );
  return stdout.trim();
}

const AUDIENCE = 'https://api.ztproxy.local';

function benchJwtIssuer(ctx: BenchContext) {
  return { issuer: 'https://dev-issuer.ztproxy.local', audience: AUDIENCE, jwksFile: join(ctx.certs.dir, 'dev-issuer.jwks.json'), algorithms: ['ES256' as const] };
}

/**
 * ztproxy with bearer-JWT authentication (ES256 dev token, `authenticated: true`), the
 * verified-token cache on: every request but the first is a cache hit.
 */
export function ztproxyJwtScenario() {
  return ztproxyScenario(
    { name: 'ztproxy-jwt', description: 'ztproxy with one bearer JWT (ES256) on every request, route allow {authenticated: true}, token cache on: a cache hit per request', latency: true },
    async (ctx) => ({
      options: { readyPath: '/ready', routes: authenticatedRoutes(ctx), customize: (config) => ({ ...config, identity: { jwt: [benchJwtIssuer(ctx)], tokenCache: { max: 10_000 } } }) },
      target: { headers: { authorization: `Bearer ${await benchToken(ctx)}` } },
    }),
  );
}

export type NewTokenAlg = 'ES256' | 'RS256' | 'EdDSA';

/** Distinct tokens each scenario rotates through, in order; the cache holds fewer (TOKEN_CACHE_MAX). */
export const TOKEN_POOL = 1000;
/** ztproxy's identity.tokenCache.max in the every-token-new scenarios: a token is evicted long before it comes round again. */
export const TOKEN_CACHE_MAX = 100;

/**
 * An issuer key pair of `alg` generated here (jose), its JWKS in a file, and `count`
 * distinct tokens signed with it (own jti and sub each).
 */
export async function tokenPool(dir: string, alg: NewTokenAlg, count: number): Promise<{ issuer: string; jwksFile: string; tokens: string[] }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const kid = `bench-${alg.toLowerCase()}`;
  const issuer = `https://bench-${alg.toLowerCase()}.ztproxy.local`;
  const jwksFile = join(dir, `${kid}.jwks.json`);
  await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }] }));
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    tokens.push(
      await new SignJWT({ groups: ['eng'] })
        .setProtectedHeader({ alg, typ: 'JWT', kid })
        .setIssuer(issuer)
        .setAudience(AUDIENCE)
        .setSubject(`bench-${i}`)
        .setIssuedAt(now)
        .setExpirationTime(now + 7200)
        .setJti(randomUUID())
        .sign(privateKey),
    );
  }
  return { issuer, jwksFile, tokens };
}

/**
 * Every token new: a pool of TOKEN_POOL distinct tokens of one algorithm, rotated in order
 * by the load generator, against a verified-token cache of TOKEN_CACHE_MAX — so every
 * request is a cache miss, a signature verification and a cache insertion (the path a
 * stream of first-seen tokens takes), not a hit.
 */
export function ztproxyNewTokenScenario(alg: NewTokenAlg) {
  return ztproxyScenario(
    {
      name: `ztproxy-jwt-new-${alg.toLowerCase()}`,
      description: `ztproxy with a different ${alg} bearer JWT on every request (${TOKEN_POOL} distinct tokens rotated, token cache max ${TOKEN_CACHE_MAX}): a signature verification per request`,
    },
    async (ctx) => {
      const pool = await tokenPool(ctx.workDir, alg, TOKEN_POOL);
      return {
        options: {
          readyPath: '/ready',
          routes: authenticatedRoutes(ctx),
          customize: (config) => ({ ...config, identity: { jwt: [{ issuer: pool.issuer, audience: AUDIENCE, jwksFile: pool.jwksFile, algorithms: [alg] }], tokenCache: { max: TOKEN_CACHE_MAX } } }),
        },
        target: { pool: { name: 'authorization', values: pool.tokens.map((t) => `Bearer ${t}`) } },
      };
    },
  );
}

/**
 * ztproxy asking a remote AuthZEN PDP (bench/lib/pdp-server.ts, its own process on the
 * load core) on every request, with the bearer JWT of ztproxy-jwt (token cache on): with
 * the decision cache every request after the first is a hit; without it every request is
 * a PDP call over the keep-alive pool. Compared with ztproxy-jwt: the same request decided
 * by the embedded policy. The timeout is raised to 1 s so a loaded machine measures
 * throughput, not 503s.
 */
export function ztproxyPdpScenario(cache: boolean) {
  return ztproxyScenario(
    {
      name: cache ? 'ztproxy-pdp' : 'ztproxy-pdp-nocache',
      description: `ztproxy-jwt's request decided by a loopback AuthZEN PDP, decision cache ${cache ? 'on (a hit per request)' : 'off (a PDP call per request)'}`,
    },
    async (ctx) => {
      const token = await benchToken(ctx);
      const server = await startUpstream(ctx.node, join(ctx.root, 'bench', 'lib', 'pdp-server.ts'), 'pdp');
      return {
        extra: server.child,
        options: {
          readyPath: '/ready',
          routes: [
            { name: 'ready', match: { pathPrefix: '/ready' }, upstream: ctx.upstream, pdp: { mode: 'embedded' }, policy: { allow: { accept: true } } },
            { name: 'bench', match: { pathPrefix: '/' }, upstream: ctx.upstream, templates: ['/', '/items/{id}'] },
          ],
          customize: (config) => ({
            ...config,
            identity: { jwt: [benchJwtIssuer(ctx)], tokenCache: { max: 10_000 } },
            pdp: { mode: 'authzen', url: server.url, timeout: '1s', cache: cache ? { ttl: '1m', max: 100_000 } : { ttl: '0s' } },
          }),
        },
        target: { headers: { authorization: `Bearer ${token}` } },
      };
    },
  );
}

/**
 * ztproxy-jwt plus a device-posture assertion (ES256, the dev device agent's key) on
 * every request, route allow {authenticated, device: {managed, diskEncrypted}}.
 */
export function ztproxyPostureScenario() {
  return ztproxyScenario(
    { name: 'ztproxy-posture', description: 'ztproxy-jwt plus a device-posture assertion on every request, route allow {authenticated, device: {managed, diskEncrypted}}' },
    async (ctx) => {
      const token = await benchToken(ctx);
      const { stdout } = await promisify(execFile)(
        ctx.node,
        ['src/cli/main.ts', 'posture', '--device', 'bench-laptop', '--managed', 'true', '--disk-encrypted', 'true', '--ttl', '1h', '--dir', ctx.certs.dir],
        { cwd: ctx.root },
      );
      return {
        options: {
          readyPath: '/ready',
          routes: [
            { name: 'ready', match: { pathPrefix: '/ready' }, upstream: ctx.upstream, policy: { allow: { accept: true } } },
            { name: 'bench', match: { pathPrefix: '/' }, upstream: ctx.upstream, policy: { allow: { and: [{ authenticated: true }, { device: { managed: true, diskEncrypted: true } }] } } },
          ],
          customize: (config) => ({
            ...config,
            identity: { jwt: [benchJwtIssuer(ctx)], tokenCache: { max: 10_000 } },
            device: { issuers: [{ issuer: DEV_DEVICE_ISSUER, jwksFile: join(ctx.certs.dir, 'device-agent.jwks.json') }], maxAge: '1h' },
          }),
        },
        target: { headers: { authorization: `Bearer ${token}`, 'x-device-posture': stdout.trim() } },
      };
    },
  );
}

const BENCH_SESSION_KEY = 'bench-session-key-0123456789abcdefghijklmnop';

/**
 * ztproxy with a browser session cookie (`__Host-ztproxy`, a JWE) on every request, route
 * allow {authenticated: true}. The cookie is sealed here with the configured key, as a
 * login would; no IdP is contacted (no refresh token in it).
 */
export function ztproxySessionScenario() {
  return ztproxyScenario(
    { name: 'ztproxy-session', description: 'ztproxy with a session cookie (JWE) on every request, route allow {authenticated: true}' },
    async (ctx) => {
      const now = Math.floor(Date.now() / 1000);
      const issuer = 'http://127.0.0.1:9';
      const codec = new EnvelopeCodec([deriveSessionKey(BENCH_SESSION_KEY)]);
      const cookie = await codec.seal('session', { sid: 'bench-session', iss: issuer, sub: 'bench', c: { groups: ['eng'], auth_time: now }, iat: now, exp: now + 7200, seen: now }, now + 7200);
      return {
        options: {
          readyPath: '/ready',
          routes: authenticatedRoutes(ctx),
          customize: (config) => ({
            ...config,
            identity: { oidc: { issuer, clientId: 'bench', userinfo: false }, session: { keys: [BENCH_SESSION_KEY], ttl: '8h', idleTimeout: '30m' } },
          }),
        },
        target: { headers: { cookie: `__Host-ztproxy=${cookie}` } },
      };
    },
  );
}

const CLIENT_SPIFFE_ID = 'spiffe://ztproxy.local/ns/demo/sa/client';

/**
 * ztproxy with mutual TLS: the dev client certificate on every connection, route allow
 * {spiffe: {id}} (the workload identity from the verified certificate). wrk cannot present
 * a client certificate, so this runs on autocannon (with tlsOptions) — and is compared
 * with `ztproxy-autocannon`, forward-only loaded the same way. Client auth is `optional`
 * so the readiness probe (no certificate) reaches the public /ready route.
 */
export function ztproxyMtlsScenario() {
  return ztproxyScenario(
    { name: 'ztproxy-mtls', description: 'ztproxy with a client certificate on every connection (mTLS), route allow {spiffe: {id}}; autocannon (wrk cannot present a certificate)', tool: 'autocannon' },
    async (ctx) => {
      const [cert, key] = await Promise.all([readFile(join(ctx.certs.dir, 'client.crt'), 'utf8'), readFile(join(ctx.certs.dir, 'client.key'), 'utf8')]);
      return {
        options: {
          readyPath: '/ready',
          routes: [
            { name: 'ready', match: { pathPrefix: '/ready' }, upstream: ctx.upstream, policy: { allow: { accept: true } } },
            { name: 'bench', match: { pathPrefix: '/' }, upstream: ctx.upstream, policy: { allow: { spiffe: { id: CLIENT_SPIFFE_ID } } } },
          ],
          customize: (config) => ({ ...config, listen: { ...config.listen, clientAuth: { mode: 'optional', ca: join(ctx.certs.dir, 'ca.crt') } } }),
        },
        target: { tlsOptions: { cert, key } },
      };
    },
  );
}

/**
 * The forward-only ztproxy of `ztproxy`, loaded by autocannon instead of wrk: the
 * denominator of the mTLS ratio, so both sides of it are measured with the same tool.
 */
export function sameSystemScenario(base: ReturnType<typeof ztproxyForwardScenario>, name: string, description: string, tool: 'wrk' | 'autocannon'): Scenario {
  return {
    name,
    description,
    tool,
    async setup(): Promise<Target> {
      const proxy = base.running();
      if (!proxy) throw new Error(`${name} needs ${base.name}, which is not running`);
      return { url: `${proxy.url}/`, pid: proxy.child.proc.pid, adminUrl: proxy.adminUrl };
    },
    async teardown(): Promise<void> {},
  };
}

/** nginx doing the same TLS termination and keep-alive proxying, one worker. */
export function nginxScenario(): Scenario {
  const bin = findNginx();
  let child: Child | undefined;
  let dir: string | undefined;
  return {
    name: 'nginx',
    description: 'nginx, 1 worker: the same TLS termination and keep-alive proxying to the same upstream',
    sweep: true,
    latency: true,
    skipReason: () => (bin ? undefined : 'nginx is not installed (apt-get install nginx-light)'),
    async setup(ctx: BenchContext): Promise<Target> {
      if (!bin) throw new Error('nginx is not installed');
      const nginx = await startNginx(ctx, bin);
      child = nginx.child;
      dir = nginx.dir;
      return { url: `${nginx.url}/`, pid: nginx.child.proc.pid };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      child = undefined;
      dir = undefined;
    },
  };
}

/** HAProxy doing the same TLS termination and keep-alive proxying, one thread. */
export function haproxyScenario(bin: string | undefined, missing: string | undefined): Scenario {
  let child: Child | undefined;
  let dir: string | undefined;
  return {
    name: 'haproxy',
    description: 'HAProxy, nbthread 1: the same TLS termination, keep-alive to the upstream with http-reuse always, the same X-Forwarded-* / X-Request-Id headers',
    sweep: true,
    skipReason: () => (bin ? undefined : (missing ?? 'haproxy is not installed')),
    async setup(ctx: BenchContext): Promise<Target> {
      if (!bin) throw new Error('haproxy is not installed');
      const haproxy = await startHaproxy(ctx, bin);
      child = haproxy.child;
      dir = haproxy.dir;
      return { url: `${haproxy.url}/`, pid: haproxy.child.proc.pid };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      child = undefined;
      dir = undefined;
    },
  };
}

/** The ~40-line Node proxy on one undici Pool through dispatch() (bench/lib/bare-proxy.ts). */
export function bareProxyScenario(): Scenario {
  let child: Child | undefined;
  return {
    name: 'bare-proxy',
    description: "a bare Node proxy: TLS, one undici Pool, dispatch() with a raw handler, the same added headers, nothing else — Node's floor for proxying",
    sweep: true,
    async setup(ctx: BenchContext): Promise<Target> {
      const proxy = await startUpstream(ctx.node, join(ctx.root, 'bench', 'lib', 'bare-proxy.ts'), 'bare-proxy', {
        args: [ctx.certs.serverCert, ctx.certs.serverKey, ctx.upstream],
        cpu: SUT_CPU,
        scheme: 'https',
        probe: { ca: ctx.certs.caPem },
      });
      child = proxy.child;
      return { url: `${proxy.url}/`, pid: proxy.child.proc.pid };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      child = undefined;
    },
  };
}

/** Every scenario, in the order they run within a round. */
export function allScenarios(haproxy: { bin?: string; missing?: string } = { bin: findHaproxy() }): Scenario[] {
  const forward = ztproxyForwardScenario();
  return [
    directScenario(),
    nginxScenario(),
    haproxyScenario(haproxy.bin, haproxy.missing),
    bareProxyScenario(),
    forward,
    ztproxyJwtScenario(),
    ztproxyNewTokenScenario('ES256'),
    ztproxyNewTokenScenario('RS256'),
    ztproxyNewTokenScenario('EdDSA'),
    ztproxySessionScenario(),
    ztproxyPostureScenario(),
    ztproxyPdpScenario(true),
    ztproxyPdpScenario(false),
    sameSystemScenario(forward, 'ztproxy-autocannon', 'the forward-only ztproxy of `ztproxy`, loaded by autocannon: what ztproxy-mtls is compared with', 'autocannon'),
    ztproxyMtlsScenario(),
  ];
}

/** Ratios of capacity (main connection count) printed beside the targets: what each layer costs. */
export const RATIOS: readonly RatioSpec[] = [
  { numerator: 'ztproxy', denominator: 'direct' },
  { numerator: 'nginx', denominator: 'direct' },
  { numerator: 'ztproxy', denominator: 'nginx' },
  { numerator: 'ztproxy', denominator: 'haproxy' },
  { numerator: 'ztproxy', denominator: 'bare-proxy' },
  { numerator: 'bare-proxy', denominator: 'nginx' },
  { numerator: 'haproxy', denominator: 'nginx' },
  { numerator: 'ztproxy-jwt', denominator: 'ztproxy' },
  { numerator: 'ztproxy-jwt-new-es256', denominator: 'ztproxy' },
  { numerator: 'ztproxy-jwt-new-rs256', denominator: 'ztproxy' },
  { numerator: 'ztproxy-jwt-new-eddsa', denominator: 'ztproxy' },
  { numerator: 'ztproxy-session', denominator: 'ztproxy' },
  { numerator: 'ztproxy-posture', denominator: 'ztproxy-jwt' },
  { numerator: 'ztproxy-pdp', denominator: 'ztproxy-jwt' },
  { numerator: 'ztproxy-pdp-nocache', denominator: 'ztproxy-jwt' },
  { numerator: 'ztproxy-mtls', denominator: 'ztproxy-autocannon' },
];
