// Upstream TLS and mTLS per route (SPEC §1: "forwarded over an encrypted channel"), over
// real sockets: an https:// upstream is verified against the route's `upstreamTls.ca`
// (never the system store for a private CA, never unverified), the route's client
// certificate is presented to an upstream that requires one, and `serverName` is the
// name verified when the upstream is reached by IP. Every refusal is a 502 with the
// short JSON body, and the upstream's handler never runs.
import { X509Certificate } from 'node:crypto';
import { rm, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate } from '../../src/tls/pki.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { get, openRoute, startTestProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { startTlsUpstream, type TlsUpstream } from '../helpers/tls-upstream.ts';

let pki: TestPki;
let dir: string;
/** Server certificate for localhost / 127.0.0.1 from the test CA; no client certificate asked. */
let tlsUp: TlsUpstream;
/** Same server certificate; requires a client certificate from the test CA. */
let mtlsUp: TlsUpstream;
/** A certificate whose only name is the DNS name `upstream.internal` (no IP SAN). */
let dnsOnlyUp: TlsUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  pki = await makeTestPki();
  dir = await mkdtemp(join(tmpdir(), 'ztproxy-upstream-tls-'));
  const dnsOnly = await issueCertificate(pki.ca, { usage: 'server', dnsNames: ['upstream.internal'] });
  tlsUp = await startTlsUpstream({ cert: pki.server.certPem, key: pki.server.keyPem });
  mtlsUp = await startTlsUpstream({ cert: pki.server.certPem, key: pki.server.keyPem, clientCa: pki.ca.certPem });
  dnsOnlyUp = await startTlsUpstream({ cert: dnsOnly.certPem, key: dnsOnly.keyPem });
  // A file the route can name that holds a CA bundle with only the other CA.
  await writeFile(join(dir, 'other-ca.crt'), pki.otherCa.certPem);

  const ca = pki.ca.certPath;
  const client = { cert: pki.clients.valid.certPath, key: pki.clients.valid.keyPath };
  // Routes keep the default preserveHost: true (the client's Host goes upstream), unless
  // the name ends in `-upstream-host` (preserveHost: false).
  const route = (name: string, upstream: string, upstreamTls?: Record<string, string>) =>
    openRoute(upstream, {
      name,
      match: { host: `${name}.test` },
      ...(upstreamTls ? { upstreamTls } : {}),
      ...(name.endsWith('-upstream-host') ? { preserveHost: false } : {}),
      timeouts: { connect: '2s', headers: '5s' },
    });
  proxy = await startTestProxy({
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
    routes: [
      route('tls-ca', tlsUp.url, { ca }),
      route('tls-ca-upstream-host', tlsUp.url, { ca }),
      route('tls-system-store', tlsUp.url),
      route('tls-other-ca', tlsUp.url, { ca: join(dir, 'other-ca.crt') }),
      route('tls-localhost-name', `https://localhost:${tlsUp.port}`, { ca }),
      route('mtls-cert', mtlsUp.url, { ca, ...client }),
      route('mtls-cert-upstream-host', mtlsUp.url, { ca, ...client }),
      route('mtls-no-cert', mtlsUp.url, { ca }),
      route('mtls-untrusted-cert', mtlsUp.url, { ca, cert: pki.clients.untrusted.certPath, key: pki.clients.untrusted.keyPath }),
      route('sni-name', dnsOnlyUp.url, { ca, serverName: 'upstream.internal' }),
      route('sni-name-upstream-host', dnsOnlyUp.url, { ca, serverName: 'upstream.internal' }),
      // Any host (no match.host): the client's Host can be anything at all.
      openRoute(dnsOnlyUp.url, { name: 'sni-none-any-host', match: { pathPrefix: '/any-host' }, upstreamTls: { ca } }),
      route('sni-none', dnsOnlyUp.url, { ca }),
      route('sni-wrong', dnsOnlyUp.url, { ca, serverName: 'other.internal' }),
    ],
  });
});

afterAll(async () => {
  await proxy?.close();
  await Promise.all([tlsUp?.close(), mtlsUp?.close(), dnsOnlyUp?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
  await pki?.cleanup();
});

function resetAll(): void {
  tlsUp.reset();
  mtlsUp.reset();
  dnsOnlyUp.reset();
}

async function accessLine(requestId: string): Promise<LogLine> {
  const end = Date.now() + 2000;
  for (;;) {
    const line = proxy.logs.find((l) => l.msg === 'request' && l.requestId === requestId);
    if (line) return line;
    if (Date.now() > end) throw new Error(`no access-log line for ${requestId}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A refused upstream: 502 with only the short JSON body, logged with an upstream reason. */
async function expectBadGateway(host: string, path: string): Promise<LogLine> {
  const res = await get(proxy.port, path, { host });
  expect(res.status).toBe(502);
  const requestId = res.headers['x-request-id'] as string;
  expect(JSON.parse(res.body)).toEqual({ error: 'bad gateway', requestId });
  const line = await accessLine(requestId);
  expect(line).toMatchObject({ status: 502, route: host.replace(/\.test$/, ''), decision: 'allow' });
  expect(String(line.reason)).toMatch(/^upstream-/);
  return line;
}

describe('https:// upstream, server verified', () => {
  it('forwards over TLS when the route trusts the upstream CA', async () => {
    resetAll();
    const res = await get(proxy.port, '/hello?x=1', { host: 'tls-ca.test' });
    expect(res.status).toBe(200);
    expect(res.headers['x-upstream']).toBe('tls');
    expect(tlsUp.seen.map((s) => s.url)).toEqual(['/hello?x=1']);
    expect(tlsUp.seen[0]!.clientCert).toBeUndefined();
    expect(JSON.parse(res.body).tls).toMatch(/^TLSv1\.[23]$/);
  });

  it('forwards over TLS with preserveHost: false as well', async () => {
    resetAll();
    const res = await get(proxy.port, '/rewritten', { host: 'tls-ca-upstream-host.test' });
    expect(res.status).toBe(200);
    expect(tlsUp.seen.map((s) => [s.url, s.headers.host])).toEqual([['/rewritten', `127.0.0.1:${tlsUp.port}`]]);
  });

  it('verifies a DNS upstream name against the certificate (https://localhost:port)', async () => {
    resetAll();
    const res = await get(proxy.port, '/by-name', { host: 'tls-localhost-name.test' });
    expect(res.status).toBe(200);
    expect(tlsUp.seen.map((s) => [s.url, s.servername])).toEqual([['/by-name', 'localhost']]);
  });

  it('refuses an upstream certificate from a private CA the route does not name (502, nothing served)', async () => {
    resetAll();
    await expectBadGateway('tls-system-store.test', '/untrusted');
    expect(tlsUp.seen).toEqual([]);
  });

  it('refuses an upstream certificate from another CA than the route names (502, nothing served)', async () => {
    resetAll();
    await expectBadGateway('tls-other-ca.test', '/other-ca');
    expect(tlsUp.seen).toEqual([]);
  });
});

describe('mTLS to the upstream', () => {
  it('presents the route client certificate; the upstream sees and verifies it', async () => {
    resetAll();
    const res = await get(proxy.port, '/mtls', { host: 'mtls-cert.test' });
    expect(res.status).toBe(200);
    expect(mtlsUp.seen).toHaveLength(1);
    const seen = mtlsUp.seen[0]!;
    expect(seen.url).toBe('/mtls');
    expect(seen.authorized).toBe(true);
    expect(seen.clientCert?.fingerprint256).toBe(new X509Certificate(pki.clients.valid.certPem).fingerprint256);
    expect(seen.clientCert?.subjectaltname).toContain(`URI:${pki.spiffeId}`);
  });

  it('presents the client certificate with preserveHost: false as well', async () => {
    resetAll();
    const res = await get(proxy.port, '/mtls-rewritten', { host: 'mtls-cert-upstream-host.test' });
    expect(res.status).toBe(200);
    expect(mtlsUp.seen.map((s) => [s.url, s.authorized, s.clientCert?.fingerprint256])).toEqual([
      ['/mtls-rewritten', true, new X509Certificate(pki.clients.valid.certPem).fingerprint256],
    ]);
  });

  it('without a client certificate the upstream refuses the handshake: 502, nothing served', async () => {
    resetAll();
    await expectBadGateway('mtls-no-cert.test', '/no-cert');
    expect(mtlsUp.seen).toEqual([]);
  });

  it('a client certificate the upstream does not trust: 502, nothing served', async () => {
    resetAll();
    await expectBadGateway('mtls-untrusted-cert.test', '/untrusted-cert');
    expect(mtlsUp.seen).toEqual([]);
  });
});

describe('upstreamTls.serverName', () => {
  it('verifies (and sends as SNI) serverName when the upstream is reached by IP', async () => {
    resetAll();
    const res = await get(proxy.port, '/sni', { host: 'sni-name.test' });
    expect(res.status).toBe(200);
    expect(dnsOnlyUp.seen.map((s) => [s.url, s.servername])).toEqual([['/sni', 'upstream.internal']]);
  });

  it('verifies serverName with preserveHost: false as well', async () => {
    resetAll();
    const res = await get(proxy.port, '/sni-rewritten', { host: 'sni-name-upstream-host.test' });
    expect(res.status).toBe(200);
    expect(dnsOnlyUp.seen.map((s) => [s.url, s.servername])).toEqual([['/sni-rewritten', 'upstream.internal']]);
  });

  it('without serverName the IP does not match the DNS-only certificate: 502, nothing served', async () => {
    resetAll();
    await expectBadGateway('sni-none.test', '/sni-none');
    expect(dnsOnlyUp.seen).toEqual([]);
  });

  it('a serverName the certificate does not carry: 502, nothing served', async () => {
    resetAll();
    await expectBadGateway('sni-wrong.test', '/sni-wrong');
    expect(dnsOnlyUp.seen).toEqual([]);
  });
});

describe('the name verified never comes from the client', () => {
  // The route says: connect to 127.0.0.1 and verify that address. A client that sends
  // `Host: upstream.internal` (the one name in the certificate) must not change what is
  // verified; otherwise whoever picks the Host picks the identity the upstream must prove,
  // and an on-path attacker with any valid certificate for a name of its choosing wins.
  it('a client Host equal to the certificate name does not make an unverifiable upstream pass', async () => {
    resetAll();
    const res = await get(proxy.port, '/any-host/x', { host: 'upstream.internal' });
    expect(res.status).toBe(502);
    expect(dnsOnlyUp.seen).toEqual([]);
  });

  it('the control: any other Host on the same route is refused (502)', async () => {
    resetAll();
    const res = await get(proxy.port, '/any-host/y', { host: 'localhost' });
    expect(res.status).toBe(502);
    expect(dnsOnlyUp.seen).toEqual([]);
  });
});
