// The scenarios of `npm run bench`, in the order they run. Adding one is adding an object
// here (and, if it should be compared, a ratio in RATIOS).
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Child } from './children.ts';
import { findNginx, startNginx } from './nginx.ts';
import type { BenchContext, RatioSpec, Scenario, Target } from './scenario.ts';
import { startZtproxy, type ZtproxyRouteInput } from './ztproxy.ts';
import { startUpstream } from './upstream.ts';
import { EnvelopeCodec, deriveSessionKey } from '../../src/identity/session/codec.ts';
import { DEV_DEVICE_ISSUER } from '../../src/cli/posture.ts';

/** The upstream itself over plain HTTP: the ceiling every proxy is measured against. */
export function directScenario(): Scenario {
  return {
    name: 'direct',
    description: 'the upstream directly, plain HTTP keep-alive: the ceiling of this machine and load generator',
    async setup(ctx: BenchContext): Promise<Target> {
      return { url: `${ctx.upstream}/`, pid: ctx.upstreamPid };
    },
    async teardown(): Promise<void> {},
  };
}

/** ztproxy with TLS termination, one public route, no authentication: the forwarding cost. */
export function ztproxyForwardScenario(): Scenario {
  let child: Child | undefined;
  return {
    name: 'ztproxy',
    description: 'ztproxy forward-only: TLS termination, request chain, one route with allow {accept: true}, no auth',
    async setup(ctx: BenchContext): Promise<Target> {
      const proxy = await startZtproxy(ctx, { name: 'ztproxy' });
      child = proxy.child;
      return { url: `${proxy.url}/`, pid: proxy.child.proc.pid };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      child = undefined;
    },
  };
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

function benchJwtIssuer(ctx: BenchContext) {
  return { issuer: 'https://dev-issuer.ztproxy.local', audience: 'https://api.ztproxy.local', jwksFile: join(ctx.certs.dir, 'dev-issuer.jwks.json'), algorithms: ['ES256' as const] };
}

/**
 * ztproxy with bearer-JWT authentication (ES256 dev token, `authenticated: true`), with
 * the verified-token cache (every request but the first is a cache hit) or without it
 * (every request pays a signature verification).
 */
export function ztproxyJwtScenario(cache: boolean): Scenario {
  let child: Child | undefined;
  const name = cache ? 'ztproxy-jwt' : 'ztproxy-jwt-nocache';
  return {
    name,
    description: `ztproxy with a bearer JWT (ES256) on every request, route allow {authenticated: true}, token cache ${cache ? 'on' : 'off'}`,
    async setup(ctx: BenchContext): Promise<Target> {
      const token = await benchToken(ctx);
      const proxy = await startZtproxy(ctx, {
        name,
        readyPath: '/ready',
        routes: authenticatedRoutes(ctx),
        customize: (config) => ({
          ...config,
          identity: { jwt: [benchJwtIssuer(ctx)], tokenCache: { max: cache ? 10_000 : 0 } },
        }),
      });
      child = proxy.child;
      return { url: `${proxy.url}/`, pid: proxy.child.proc.pid, headers: { authorization: `Bearer ${token}` } };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      child = undefined;
    },
  };
}

/**
 * ztproxy asking a remote AuthZEN PDP (bench/lib/pdp-server.ts, its own process on
 * loopback) on every request, with the bearer JWT of ztproxy-jwt (token cache on): with
 * the decision cache every request after the first is a hit (compare with ztproxy-jwt,
 * the embedded engine on the same request); without it every request is a PDP call over
 * the keep-alive pool. The timeout is raised to 1 s so a loaded machine measures
 * throughput, not 503s.
 */
export function ztproxyPdpScenario(cache: boolean): Scenario {
  let child: Child | undefined;
  let pdp: Child | undefined;
  const name = cache ? 'ztproxy-pdp' : 'ztproxy-pdp-nocache';
  return {
    name,
    description: `ztproxy with a bearer JWT, deciding through a loopback AuthZEN PDP, decision cache ${cache ? 'on' : 'off'}`,
    async setup(ctx: BenchContext): Promise<Target> {
      const token = await benchToken(ctx);
      const server = await startUpstream(ctx.node, join(ctx.root, 'bench', 'lib', 'pdp-server.ts'), 'pdp');
      pdp = server.child;
      const proxy = await startZtproxy(ctx, {
        name,
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
      });
      child = proxy.child;
      return { url: `${proxy.url}/`, pid: proxy.child.proc.pid, headers: { authorization: `Bearer ${token}` } };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      await pdp?.stop();
      child = undefined;
      pdp = undefined;
    },
  };
}

/**
 * ztproxy-jwt plus a device-posture assertion (ES256, the dev device agent's key) on
 * every request, route allow {authenticated, device: {managed, diskEncrypted}}: the
 * posture stage (a verified-assertion cache hit with its time and binding re-checks),
 * the device criterion and the device claim in X-ZT-Assertion. Compare with ztproxy-jwt.
 */
export function ztproxyPostureScenario(): Scenario {
  let child: Child | undefined;
  return {
    name: 'ztproxy-posture',
    description: 'ztproxy-jwt plus a device-posture assertion on every request, route allow {authenticated, device: {managed, diskEncrypted}}',
    async setup(ctx: BenchContext): Promise<Target> {
      const token = await benchToken(ctx);
      const { stdout } = await promisify(execFile)(
        ctx.node,
        ['src/cli/main.ts', 'posture', '--device', 'bench-laptop', '--managed', 'true', '--disk-encrypted', 'true', '--ttl', '1h', '--dir', ctx.certs.dir],
        { cwd: ctx.root },
      );
      const posture = stdout.trim();
      const proxy = await startZtproxy(ctx, {
        name: 'ztproxy-posture',
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
      });
      child = proxy.child;
      return { url: `${proxy.url}/`, pid: proxy.child.proc.pid, headers: { authorization: `Bearer ${token}`, 'x-device-posture': posture } };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      child = undefined;
    },
  };
}

const BENCH_SESSION_KEY = 'bench-session-key-0123456789abcdefghijklmnop';

/**
 * ztproxy with a browser session cookie (`__Host-ztproxy`, a JWE) on every request,
 * route allow {authenticated: true}: the cost of a logged-in browser's request (the
 * decrypted session is cached by cookie value; expiry and revocation are checked each
 * time). The cookie is sealed here with the configured key, as a login would; no IdP is
 * contacted (no refresh token in it).
 */
export function ztproxySessionScenario(): Scenario {
  let child: Child | undefined;
  return {
    name: 'ztproxy-session',
    description: 'ztproxy with a session cookie (JWE) on every request, route allow {authenticated: true}',
    async setup(ctx: BenchContext): Promise<Target> {
      const now = Math.floor(Date.now() / 1000);
      const issuer = 'http://127.0.0.1:9';
      const codec = new EnvelopeCodec([deriveSessionKey(BENCH_SESSION_KEY)]);
      const cookie = await codec.seal('session', { sid: 'bench-session', iss: issuer, sub: 'bench', c: { groups: ['eng'], auth_time: now }, iat: now, exp: now + 7200, seen: now }, now + 7200);
      const proxy = await startZtproxy(ctx, {
        name: 'ztproxy-session',
        readyPath: '/ready',
        routes: authenticatedRoutes(ctx),
        customize: (config) => ({
          ...config,
          identity: {
            oidc: { issuer, clientId: 'bench', userinfo: false },
            session: { keys: [BENCH_SESSION_KEY], ttl: '8h', idleTimeout: '30m' },
          },
        }),
      });
      child = proxy.child;
      return { url: `${proxy.url}/`, pid: proxy.child.proc.pid, headers: { cookie: `__Host-ztproxy=${cookie}` } };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      child = undefined;
    },
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

export function allScenarios(): Scenario[] {
  return [
    directScenario(),
    ztproxyForwardScenario(),
    ztproxyJwtScenario(true),
    ztproxyJwtScenario(false),
    ztproxyPostureScenario(),
    ztproxyPdpScenario(true),
    ztproxyPdpScenario(false),
    ztproxySessionScenario(),
    nginxScenario(),
  ];
}

export const RATIOS: readonly RatioSpec[] = [
  { numerator: 'ztproxy', denominator: 'direct' },
  { numerator: 'nginx', denominator: 'direct' },
  { numerator: 'ztproxy', denominator: 'nginx' },
  { numerator: 'ztproxy-jwt', denominator: 'ztproxy' },
  { numerator: 'ztproxy-jwt-nocache', denominator: 'ztproxy' },
  { numerator: 'ztproxy-session', denominator: 'ztproxy' },
  // Issue #5: remote PDP ≥ 0.9× the embedded engine with the decision cache, ≥ 0.6× without.
  { numerator: 'ztproxy-posture', denominator: 'ztproxy-jwt' },
  { numerator: 'ztproxy-pdp', denominator: 'ztproxy-jwt' },
  { numerator: 'ztproxy-pdp-nocache', denominator: 'ztproxy-jwt' },
];
