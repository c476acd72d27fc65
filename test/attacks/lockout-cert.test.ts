// Deny after repeated failures (SPEC §3 `lockout`) counts a client certificate that
// expired under a kept-alive connection (`clientAuth: require`: 401 client-cert-expired)
// against the client's address, as the README's "Deny after repeated failures" says: a
// client that keeps presenting dead credentials is refused at the first stage, 429 with
// Retry-After, even over a fresh connection with a valid certificate — the ban is the
// address's, not the certificate's. maxFailures 3: three expired-certificate requests
// ban; the fourth request, from a valid certificate, is a 429 the upstream never sees.
import { X509Certificate } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { describe, expect, it } from 'vitest';
import { issueCertificate, type Issued } from '../../src/tls/pki.ts';
import { openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const stack = useProxyStack(({ pki, upstream }) => ({
  listen: { clientAuth: { mode: 'require', ca: pki.ca.certPath } },
  lockout: { maxFailures: 3, window: '1m', banFor: '1m' },
  routes: [openRoute(upstream.url, { name: 'app', match: { host: 'app.test' } })],
}));

interface Answer {
  status: number;
  requestId: string;
  retryAfter: string | undefined;
  reused: boolean;
}

function ask(agent: Agent, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: stack.proxy.port, path, agent, servername: 'localhost', headers: { host: 'app.test' } }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id']), retryAfter: res.headers['retry-after'], reused: req.reusedSocket }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function agentFor(cert: Issued): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1, maxCachedSessions: 0, cert: cert.certPem, key: cert.keyPem, rejectUnauthorized: false });
}

describe('lockout: expired client certificates under clientAuth require', () => {
  it('three 401 client-cert-expired ban the address; a valid certificate from it then gets 429 before the upstream', async () => {
    const notAfter = new Date(Date.now() + 2000);
    const certs = await Promise.all(
      [1, 2, 3].map((i) => issueCertificate(stack.pki.ca, { usage: 'client', commonName: `w${i}`, uris: [stack.pki.spiffeId], notAfter })),
    );
    // X.509 keeps whole seconds, and notAfter itself is still valid (RFC 5280 §4.1.2.5).
    const expiresAt = new X509Certificate(certs[0]!.certPem).validToDate.getTime() + 1000;
    const agents = certs.map(agentFor);
    const valid = agentFor(stack.pki.clients.valid);
    try {
      for (const agent of agents) expect((await ask(agent, '/before')).status).toBe(200);
      await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() + 100)));
      for (const agent of agents) {
        const after = await ask(agent, '/after');
        expect(after.reused).toBe(true);
        expect(after.status).toBe(401);
      }
      const banned = await ask(valid, '/banned');
      expect(banned.status).toBe(429);
      expect(Number(banned.retryAfter)).toBeGreaterThan(50);
      expect(stack.proxy.logs.find((l) => l.msg === 'lockout: banned')).toMatchObject({ kind: 'ip', failures: 3 });
      expect(stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === banned.requestId)).toMatchObject({ status: 429, reason: 'locked-out' });
      expect(stack.upstream.seen.map((s) => s.url)).toEqual(['/before', '/before', '/before']);
    } finally {
      for (const agent of [...agents, valid]) agent.destroy();
    }
  });
});
