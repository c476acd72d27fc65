// Identity headers that other proxies set (src/basics/identity-headers.ts): an upstream
// that once sat behind oauth2-proxy, Apache mod_auth_*, nginx/HAProxy client-certificate
// auth, Envoy/Istio, AWS ALB, Cloudflare Access, Google IAP, Azure App Service, Pomerium,
// authentik, Kubernetes' front proxy... may still believe them. Each is sent over a real
// socket in several spellings (case, `_` for `-`, as CGI/PHP/nginx/Werkzeug upstreams
// read them) on plain HTTP, on a WebSocket handshake and in chunked-body trailers; the
// upstream must never see the forged value, and ztproxy_stripped_headers_total{family}
// must count every copy. The operator's `stripHeaders` (top level and per route) extends
// the list and never removes a header ztproxy itself sets.
import { request as httpRequest } from 'node:http';
import { beforeEach, describe, expect, it } from 'vitest';
import { openRoute, rawRequest, startTestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { startRawUpstream, type RawUpstream } from './raw-upstream.ts';

let wsUpstream: TestUpstream;
let trailerUpstream: RawUpstream;

const stack = useProxyStack(async ({ upstream, onClose }) => {
  wsUpstream = await startUpstream({ websocket: true });
  onClose(() => wsUpstream.close());
  // Records every byte ztproxy sends (the body goes with Content-Length or chunked, as
  // undici chooses; trailers would follow it), then answers.
  trailerUpstream = await startRawUpstream((conn) => {
    if (conn.state !== 0) return;
    conn.state = 1;
    setTimeout(() => conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'), 200);
  });
  onClose(() => trailerUpstream.close());
  return {
    stripHeaders: { names: ['X-Tenant', 'x_employee_id'], prefixes: ['X-Acme-'] },
    routes: [
      openRoute(upstream.url, { name: 'app', match: { host: 'app.test' } }),
      openRoute(upstream.url, {
        name: 'legacy',
        match: { host: 'legacy.test' },
        stripHeaders: { names: ['X-Legacy-User'], prefixes: ['x_corp_'] },
      }),
      // An operator's prefix that covers headers ztproxy sets: only the client's copies go.
      openRoute(upstream.url, { name: 'greedy', match: { host: 'greedy.test' }, stripHeaders: { prefixes: ['x-forwarded-', 'x-real-', 'x-request-'] } }),
      openRoute(wsUpstream.url, { name: 'ws', match: { host: 'ws.test' }, websocket: true, stripHeaders: { names: ['x-ws-user'] } }),
      openRoute(trailerUpstream.url, { name: 'trailers', match: { host: 'trailers.test' } }),
    ],
  };
});

beforeEach(() => {
  wsUpstream.reset();
  trailerUpstream.reset();
});
/** ztproxy_stripped_headers_total by family, read from the admin listener's /metrics. */
async function strippedCounts(): Promise<Record<string, number>> {
  const text = await new Promise<string>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port: stack.proxy.proxy.addresses.admin.port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^ztproxy_stripped_headers_total\{family="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** The spellings an attacker tries and an upstream may still read as `name`. */
function spellings(name: string): string[] {
  const lower = name.toLowerCase();
  const mixed = [...lower].map((c, i) => (i % 2 === 1 ? c.toUpperCase() : c)).join('');
  return [
    ...new Set([
      name,
      lower,
      name.toUpperCase(),
      mixed,
      name.replaceAll('-', '_'),
      name.toUpperCase().replaceAll('-', '_'),
      name.replaceAll('_', '-'),
      // Only the first separator swapped: `X_Remote-User`.
      name.includes('-') ? name.replace('-', '_') : name.replace('_', '-'),
      // Other token characters as the separator: PHP registers `HTTP_X.REMOTE.USER` (as
      // Caddy's or nginx's FastCGI passes a dotted name on) as `HTTP_X_REMOTE_USER`, and
      // lighttpd's CGI/FastCGI/SCGI turns every non-alphanumeric character into `_`.
      name.replaceAll(/[-_]/g, '.'),
      name.replaceAll(/[-_]/g, '~'),
      name.replace(/[-_]/, '!'),
    ]),
  ];
}

/** Header lines, one per spelling, each with its own forged value. */
function forgedLines(names: readonly string[]): string {
  let lines = '';
  names.forEach((n, i) => (lines += `${n}: forged-${i}-value\r\n`));
  return lines;
}

/** Upstream header pairs (of every request it saw) whose value is a forged one. */
function forgedAtUpstream(seen: TestUpstream['seen']): string[] {
  const out: string[] = [];
  for (const s of seen) for (let i = 0; i < s.rawHeaders.length; i += 2) if (s.rawHeaders[i + 1]!.includes('forged')) out.push(`${s.rawHeaders[i]}: ${s.rawHeaders[i + 1]}`);
  return out;
}

async function send(host: string, lines: string): Promise<number> {
  const res = await rawRequest(stack.proxy.port, `GET /whoami HTTP/1.1\r\nHost: ${host}\r\n${lines}Connection: close\r\n\r\n`);
  return res.status;
}

// [header as its product spells it, family, who sets it]
const FORGED: [string, string, string][] = [
  ['X-Forwarded-User', 'oauth2-proxy', 'oauth2-proxy --pass-user-headers'],
  ['X-Forwarded-Email', 'oauth2-proxy', 'oauth2-proxy'],
  ['X-Forwarded-Groups', 'oauth2-proxy', 'oauth2-proxy'],
  ['X-Forwarded-Preferred-Username', 'oauth2-proxy', 'oauth2-proxy'],
  ['X-Forwarded-Access-Token', 'oauth2-proxy', 'oauth2-proxy --pass-access-token'],
  ['X-Auth-Request-User', 'oauth2-proxy', 'oauth2-proxy --set-xauthrequest'],
  ['X-Auth-Request-Email', 'oauth2-proxy', 'oauth2-proxy --set-xauthrequest'],
  ['X-Auth-Request-Groups', 'oauth2-proxy', 'oauth2-proxy --set-xauthrequest'],
  ['X-Auth-Request-Preferred-Username', 'oauth2-proxy', 'oauth2-proxy --set-xauthrequest'],
  ['X-Auth-Request-Access-Token', 'oauth2-proxy', 'oauth2-proxy --set-xauthrequest'],
  ['Remote-User', 'remote-user', 'Apache REMOTE_USER passed on, Authelia'],
  ['Remote-Groups', 'remote-user', 'Authelia'],
  ['Remote-Name', 'remote-user', 'Authelia'],
  ['Remote-Email', 'remote-user', 'Authelia'],
  ['Remote-Group', 'remote-user', 'Apache mod_auth_* setups'],
  ['X-Remote-User', 'remote-user', 'Apache, Kubernetes front proxy'],
  ['X-Remote-Group', 'remote-user', 'Kubernetes front proxy'],
  ['X-Remote-Extra-Scopes', 'remote-user', 'Kubernetes front proxy'],
  ['X-WEBAUTH-USER', 'remote-user', 'Grafana auth proxy'],
  ['OIDC_CLAIM_sub', 'apache-sso', 'mod_auth_openidc'],
  ['OIDC_access_token', 'apache-sso', 'mod_auth_openidc'],
  ['MELLON_NAME_ID', 'apache-sso', 'mod_auth_mellon'],
  ['Shib-Identity-Provider', 'apache-sso', 'Shibboleth SP'],
  ['X-SSL-Client-Cert', 'client-cert', 'nginx $ssl_client_cert'],
  ['X-SSL-Client-Verify', 'client-cert', 'nginx $ssl_client_verify'],
  ['X-SSL-Client-DN', 'client-cert', 'nginx / HAProxy'],
  ['X-SSL-Client-S-DN', 'client-cert', 'nginx $ssl_client_s_dn'],
  ['X-SSL-Client-I-DN', 'client-cert', 'nginx $ssl_client_i_dn'],
  ['X-SSL-Client-Fingerprint', 'client-cert', 'nginx $ssl_client_fingerprint'],
  ['X-SSL-Client-Serial', 'client-cert', 'nginx $ssl_client_serial'],
  ['X-SSL-Cert', 'client-cert', 'nginx $ssl_client_escaped_cert'],
  ['X-SSL', 'client-cert', 'HAProxy ssl_fc'],
  ['X-Client-Cert', 'client-cert', 'nginx convention'],
  ['X-Client-Certificate', 'client-cert', 'various'],
  ['X-Client-Verify', 'client-cert', 'nginx convention'],
  ['X-Client-DN', 'client-cert', 'nginx convention'],
  ['X-Client-S-DN', 'client-cert', 'nginx convention'],
  ['X-Forwarded-Client-Cert', 'client-cert', 'Envoy / Istio XFCC (SPIFFE URI)'],
  ['X-Client-Spiffe-Id', 'client-cert', 'SPIFFE sidecars'],
  ['SSL_CLIENT_CERT', 'client-cert', 'Apache mod_ssl'],
  ['SSL_CLIENT_S_DN', 'client-cert', 'Apache mod_ssl'],
  ['SSL_CLIENT_VERIFY', 'client-cert', 'Apache mod_ssl'],
  ['Client-Cert', 'client-cert', 'RFC 9440'],
  ['Client-Cert-Chain', 'client-cert', 'RFC 9440'],
  ['X-Forwarded-Tls-Client-Cert-Info', 'client-cert', 'Traefik'],
  ['X-Amzn-Mtls-Clientcert-Leaf', 'client-cert', 'AWS ALB mTLS passthrough'],
  ['X-ARR-ClientCert', 'client-cert', 'IIS / Azure ARR'],
  ['X-Envoy-Internal', 'envoy-istio', 'Envoy'],
  ['X-Envoy-Peer-Metadata-Id', 'envoy-istio', 'Istio'],
  ['X-Istio-Attributes', 'envoy-istio', 'Istio'],
  ['X-Pomerium-Jwt-Assertion', 'pomerium', 'Pomerium'],
  ['X-Pomerium-Claim-Groups', 'pomerium', 'Pomerium'],
  ['X-Amzn-Oidc-Data', 'aws-alb', 'AWS ALB'],
  ['X-Amzn-Oidc-Identity', 'aws-alb', 'AWS ALB'],
  ['X-Amzn-Oidc-Accesstoken', 'aws-alb', 'AWS ALB'],
  ['Cf-Access-Jwt-Assertion', 'cloudflare-access', 'Cloudflare Access'],
  ['Cf-Access-Authenticated-User-Email', 'cloudflare-access', 'Cloudflare Access'],
  ['X-Goog-Authenticated-User-Email', 'google-iap', 'Google IAP'],
  ['X-Goog-Authenticated-User-Id', 'google-iap', 'Google IAP'],
  ['X-Goog-Iap-Jwt-Assertion', 'google-iap', 'Google IAP'],
  ['X-MS-CLIENT-PRINCIPAL', 'azure-app-service', 'Azure App Service'],
  ['X-MS-CLIENT-PRINCIPAL-NAME', 'azure-app-service', 'Azure App Service'],
  ['X-MS-CLIENT-PRINCIPAL-ID', 'azure-app-service', 'Azure App Service'],
  ['X-MS-CLIENT-PRINCIPAL-IDP', 'azure-app-service', 'Azure App Service'],
  ['X-MS-TOKEN-AAD-ACCESS-TOKEN', 'azure-app-service', 'Azure App Service token store'],
  ['X-MS-TOKEN-AAD-ID-TOKEN', 'azure-app-service', 'Azure App Service token store'],
  ['X-Auth-Username', 'sso-proxy', 'Keycloak Gatekeeper / Louketo'],
  ['X-Auth-Roles', 'sso-proxy', 'Keycloak Gatekeeper / Louketo'],
  ['X-authentik-username', 'sso-proxy', 'authentik outpost'],
  ['X-authentik-groups', 'sso-proxy', 'authentik outpost'],
  ['X-Vouch-User', 'sso-proxy', 'Vouch Proxy'],
  ['Teleport-Jwt-Assertion', 'sso-proxy', 'Teleport application access'],
  ['X-Consumer-Username', 'api-gateway', 'Kong / APISIX auth plugins'],
  ['X-Consumer-ID', 'api-gateway', 'Kong auth plugins'],
  ['X-Consumer-Custom-ID', 'api-gateway', 'Kong auth plugins'],
  ['X-Consumer-Groups', 'api-gateway', 'Kong ACL plugin'],
  ['X-Credential-Identifier', 'api-gateway', 'Kong / APISIX auth plugins'],
  ['X-Anonymous-Consumer', 'api-gateway', 'Kong auth plugins (anonymous fallback)'],
  ['X-Authenticated-Userid', 'api-gateway', 'Kong OAuth 2.0 plugin'],
  ['X-Authenticated-Scope', 'api-gateway', 'Kong OAuth 2.0 plugin'],
  ['Tailscale-User-Login', 'tailscale', 'Tailscale Serve'],
  ['Tailscale-User-Name', 'tailscale', 'Tailscale Serve'],
  ['Tailscale-User-Profile-Pic', 'tailscale', 'Tailscale Serve'],
  ['Impersonate-User', 'kubernetes', 'kube-apiserver impersonation'],
  ['Impersonate-Group', 'kubernetes', 'kube-apiserver impersonation'],
  ['Impersonate-Extra-Scopes', 'kubernetes', 'kube-apiserver impersonation'],
  ['True-Client-IP', 'client-ip', 'Akamai / Cloudflare'],
  ['CF-Connecting-IP', 'client-ip', 'Cloudflare'],
  ['Fastly-Client-IP', 'client-ip', 'Fastly'],
  ['X-Client-IP', 'client-ip', 'various'],
  ['X-Cluster-Client-IP', 'client-ip', 'various'],
  ['X-Original-Forwarded-For', 'client-ip', 'ingress-nginx'],
  ['X-ZT-User', 'ztproxy', "ztproxy's own prefix"],
  ['X-Original-URL', 'url-override', 'IIS / Symfony'],
  ['X-HTTP-Method-Override', 'method-override', 'Rails, Express, ASP.NET'],
  ['X-Real-IP', 'replaced', 'set by ztproxy'],
];

describe('identity headers of other proxies never reach the upstream, in any spelling, and are counted', () => {
  it.each(FORGED)('%s (%s: %s)', async (name, family) => {
    const names = spellings(name);
    const before = await strippedCounts();
    expect(await send('app.test', forgedLines(names))).toBe(200);
    expect(stack.upstream.seen).toHaveLength(1);
    expect(forgedAtUpstream(stack.upstream.seen)).toEqual([]);
    const after = await strippedCounts();
    expect((after[family] ?? 0) - (before[family] ?? 0)).toBe(names.length);
  });

  // Spellings a lenient parser (or a lenient hop behind ztproxy) would trim into the
  // family's name: llhttp's strict mode refuses them before sanitation, so the whole
  // request is refused, not just the header.
  it.each([
    ['a space before the colon', 'X-Remote-User : forged\r\n'],
    ['a tab before the colon', 'X-Remote-User\t: forged\r\n'],
    ['leading whitespace (obs-fold onto the previous line)', 'X-Other: a\r\n X-Remote-User: forged\r\n'],
    ['a bare LF before the name', 'X-Other: a\nX-Remote-User: forged\r\n'],
    ['a non-ASCII letter in the name', 'X-Remote-\u00dcser: forged\r\n'],
    ['a NUL in the name', 'X-Remote-User\u0000: forged\r\n'],
  ])('a name with %s → 400, the upstream sees nothing', async (_why, lines) => {
    expect(await send('app.test', lines)).toBe(400);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('headers that only resemble one of the families are forwarded and not counted', async () => {
    // OpenStack's X-Auth-Token is the client's own credential; Chrome sends X-Client-Data.
    const kept = ['X-Auth-Token', 'X-Client-Data', 'X-Remoteness', 'Remote', 'X-SSLX', 'X-Envoy', 'Impersonated-By', 'X-Request-Ids', 'X-Ms-Clients'];
    const before = await strippedCounts();
    expect(await send('app.test', kept.map((n) => `${n}: kept\r\n`).join(''))).toBe(200);
    const seen = stack.upstream.seen[0]!.rawHeaders;
    for (const n of kept) expect([n, seen.includes(n)]).toEqual([n, true]);
    expect(await strippedCounts()).toEqual(before);
  });

  it('the access-log line names the families (each once), never the forged names or values', async () => {
    expect(await send('app.test', 'X-Forwarded-Access-Token: forged-secret-token\r\nSSL_CLIENT_S_DN: forged-dn\r\nX-SSL-Client-Verify: forged-ok\r\n')).toBe(200);
    const id = stack.upstream.seen[0]!.headers['x-request-id'];
    // The line is written once the exchange has ended, which may be just after the client saw it.
    const logged = () => stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === id);
    for (let i = 0; i < 100 && !logged(); i++) await new Promise((r) => setTimeout(r, 20));
    const line = logged();
    expect(line?.strippedHeaders).toEqual(['oauth2-proxy', 'client-cert']);
    expect(JSON.stringify(line)).not.toMatch(/forged|access-token|ssl_client/i);
  });

  it('every family is exported at zero before the first forged header', async () => {
    const counts = await strippedCounts();
    for (const family of new Set([...FORGED.map(([, f]) => f), 'configured'])) expect([family, counts[family]]).toEqual([family, expect.any(Number)]);
  });
});

describe('stripHeaders extends the list, globally and per route', () => {
  // Top level: names X-Tenant, x_employee_id, prefix X-Acme-. Route legacy: X-Legacy-User, x_corp_*.
  const GLOBAL = [...spellings('X-Tenant'), ...spellings('X-Employee-Id'), ...spellings('X-Acme-Role'), 'x-acme-'];
  const ROUTE = [...spellings('X-Legacy-User'), ...spellings('X-Corp-Dept')];

  it('the top-level list applies to every route', async () => {
    const before = await strippedCounts();
    expect(await send('app.test', forgedLines(GLOBAL))).toBe(200);
    expect(await send('legacy.test', forgedLines(GLOBAL))).toBe(200);
    expect(stack.upstream.seen).toHaveLength(2);
    expect(forgedAtUpstream(stack.upstream.seen)).toEqual([]);
    expect((await strippedCounts()).configured! - before.configured!).toBe(2 * GLOBAL.length);
  });

  it("a route's own list applies to that route only", async () => {
    const before = await strippedCounts();
    expect(await send('legacy.test', forgedLines(ROUTE))).toBe(200);
    expect(forgedAtUpstream(stack.upstream.seen)).toEqual([]);
    expect((await strippedCounts()).configured! - before.configured!).toBe(ROUTE.length);
    stack.upstream.reset();
    expect(await send('app.test', 'X-Legacy-User: other-route\r\nX-Corp-Dept: other-route\r\n')).toBe(200);
    const seen = stack.upstream.seen[0]!.headers;
    expect([seen['x-legacy-user'], seen['x-corp-dept']]).toEqual(['other-route', 'other-route']);
  });

  it('a prefix over headers ztproxy sets removes only the client\'s copies', async () => {
    expect(await send('greedy.test', 'X-Forwarded-For: 10.6.6.6\r\nX-Forwarded-Prefix: /forged\r\nX-Real-IP: 10.6.6.6\r\nX-Request-Id: forged-id\r\nX-Forwarded-Whatever: forged\r\n')).toBe(200);
    const seen = stack.upstream.seen[0]!;
    expect(forgedAtUpstream(stack.upstream.seen)).toEqual([]);
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-real-ip']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe('greedy.test');
    expect(seen.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.headers['x-zt-assertion']).toMatch(/^ey/);
  });
});

describe('a WebSocket handshake is stripped the same way', () => {
  it('built-in families, the top-level list and the route list', async () => {
    const names = [
      ...spellings('X-Forwarded-User'),
      ...spellings('Remote-User'),
      ...spellings('X-SSL-Client-S-DN'),
      ...spellings('X-MS-CLIENT-PRINCIPAL-NAME'),
      ...spellings('Impersonate-User'),
      ...spellings('X-Tenant'),
      ...spellings('X-WS-User'),
    ];
    const before = await strippedCounts();
    const res = await rawRequest(
      stack.proxy.port,
      'GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        `${forgedLines(names)}\r\n`,
      { timeoutMs: 300 },
    );
    expect(res.status).toBe(101);
    expect(wsUpstream.seen).toHaveLength(1);
    expect(forgedAtUpstream(wsUpstream.seen)).toEqual([]);
    const after = await strippedCounts();
    const delta = (f: string): number => after[f]! - before[f]!;
    expect([delta('oauth2-proxy'), delta('remote-user'), delta('client-cert'), delta('azure-app-service'), delta('kubernetes')]).toEqual([
      spellings('X-Forwarded-User').length,
      spellings('Remote-User').length,
      spellings('X-SSL-Client-S-DN').length,
      spellings('X-MS-CLIENT-PRINCIPAL-NAME').length,
      spellings('Impersonate-User').length,
    ]);
    expect(delta('configured')).toBe(spellings('X-Tenant').length + spellings('X-WS-User').length);
  });
});

describe('request trailers never reach the upstream', () => {
  // A chunked body may end in a trailer section (RFC 9112 §7.1.2) holding any header.
  // ztproxy forwards the body, never the client's trailers (Trailer is hop-by-hop).
  it('identity headers sent as trailers', async () => {
    const res = await rawRequest(
      stack.proxy.port,
      'POST /upload HTTP/1.1\r\nHost: trailers.test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Forwarded-User, Remote-User\r\nConnection: close\r\n\r\n' +
        '5\r\nhello\r\n0\r\nX-Forwarded-User: forged-trailer\r\nREMOTE_USER: forged-trailer\r\nX-Amzn-Oidc-Identity: forged-trailer\r\n\r\n',
    );
    expect(res.status).toBe(200);
    const bytes = trailerUpstream.allBytes();
    expect(bytes).toContain('hello');
    expect(bytes).not.toMatch(/forged/);
  });
});

describe('stripHeaders follows a config reload; a refused one keeps the running list', () => {
  it('adds, keeps on a bad reload, and removes', async () => {
    const config = (stripHeaders?: unknown): Record<string, unknown> => ({
      listen: { tls: serverTls(stack.pki) },
      ...(stripHeaders === undefined ? {} : { stripHeaders }),
      routes: [openRoute(stack.upstream.url, { name: 'app', match: { host: 'app.test' } })],
    });
    const own = await startTestProxy(config());
    try {
      const tenant = async (): Promise<string | undefined> => {
        stack.upstream.reset();
        const res = await rawRequest(own.port, 'GET / HTTP/1.1\r\nHost: app.test\r\nX_Tenant: forged-tenant\r\nConnection: close\r\n\r\n');
        expect(res.status).toBe(200);
        return forgedAtUpstream(stack.upstream.seen)[0];
      };
      expect(await tenant()).toBe('X_Tenant: forged-tenant');
      own.writeConfig(config({ names: ['x-tenant'] }));
      expect((await own.proxy.reload()).ok).toBe(true);
      expect(await tenant()).toBeUndefined();
      own.writeConfig(config({ names: ['x-tenant', 'Content-Length'] }));
      const refused = await own.proxy.reload();
      expect(refused.ok).toBe(false);
      expect(refused.errors.join('\n')).toContain('stripHeaders.names.1: would remove content-length');
      expect(await tenant()).toBeUndefined();
      own.writeConfig(config());
      expect((await own.proxy.reload()).ok).toBe(true);
      expect(await tenant()).toBe('X_Tenant: forged-tenant');
    } finally {
      await own.close();
    }
  });
});
