// A certificate revoked by a CRL reload stops authenticating at once: open keep-alive
// connections that authenticated with it are closed, others keep working.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCrl } from '../../src/tls/pki.ts';
import { makeTestPki, type TestCert, type TestPki } from '../helpers/pki.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let pki: TestPki;
let upstream: TestUpstream;
let proxy: TestProxy;
let crlPath: string;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-revoke-'));
  crlPath = join(dir, 'ca.crl');
  copyFileSync(pki.crl.path, crlPath);
  proxy = await startTestProxy({
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath }, clientAuth: { mode: 'optional', ca: pki.ca.certPath, crl: crlPath } },
    routes: [{ name: 'app', upstream: upstream.url, policy: { allow: { spiffe: { id: pki.spiffeId } } } }],
  });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await pki?.cleanup();
});

function openConnection(cert: TestCert | undefined): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port: proxy.port, rejectUnauthorized: false, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
      () => resolve(s),
    );
    s.once('error', reject);
  });
}

/** One keep-alive request on an open connection; resolves with the status or 'closed'. */
function ask(socket: TLSSocket, path: string): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (c: Buffer): void => {
      text += c.toString();
      const m = /^HTTP\/1\.1 (\d{3})[\s\S]*?\r\n\r\n/.exec(text);
      if (m) {
        socket.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    socket.on('data', onData);
    socket.once('close', () => resolve('closed'));
    if (socket.destroyed) resolve('closed');
    else socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
}

it('closes a live connection whose certificate a new CRL revokes; others keep working', async () => {
  const victim = await openConnection(pki.clients.valid);
  const anonymous = await openConnection(undefined);
  expect(await ask(victim, '/before')).toBe(200);
  expect(await ask(anonymous, '/anon-before')).toBe(403);

  writeFileSync(crlPath, await createCrl(pki.ca, [pki.clients.revoked.serialHex, pki.clients.valid.serialHex]));
  expect(proxy.proxy.reloadTls()).toBe(true);

  upstream.reset();
  expect(await ask(victim, '/after')).toBe('closed');
  expect(await ask(anonymous, '/anon-after')).toBe(403);
  expect(upstream.seen).toEqual([]);
  victim.destroy();
  anonymous.destroy();
});

it('refuses TLS 1.2 renegotiation (the client certificate cannot change under a connection)', async () => {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port: proxy.port, rejectUnauthorized: false, maxVersion: 'TLSv1.2', cert: pki.clients.twoSpiffe.certPem, key: pki.clients.twoSpiffe.keyPem },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  // A working connection (this certificate carries no single SPIFFE ID, so: 403).
  expect(await ask(socket, '/before-reneg')).toBe(403);
  const outcome = await new Promise<string>((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    socket.once('close', () => resolve('closed'));
    const started = socket.renegotiate({ rejectUnauthorized: false }, (err) => resolve(err ? `error ${(err as NodeJS.ErrnoException).code ?? err.message}` : 'renegotiated'));
    if (!started) resolve('not started');
  });
  expect(outcome).not.toBe('renegotiated');
  socket.destroy();
});
