// A certificate revoked by a CRL reload stops authenticating at once: open keep-alive
// connections that authenticated with it are closed, others keep working.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { expect, it } from 'vitest';
import { createCrl } from '../../src/tls/pki.ts';
import type { TestCert } from '../helpers/pki.ts';
import { useProxyStack, serverTls } from '../helpers/stack.ts';

let crlPath: string;

const stack = useProxyStack(({ pki, upstream }) => {
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-revoke-'));
  crlPath = join(dir, 'ca.crl');
  copyFileSync(pki.crl.path, crlPath);
  return {
    listen: { tls: serverTls(pki), clientAuth: { mode: 'optional', ca: pki.ca.certPath, crl: crlPath } },
    routes: [{ name: 'app', upstream: upstream.url, policy: { allow: { spiffe: { id: pki.spiffeId } } } }],
  };
});

function openConnection(cert: TestCert | undefined): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port: stack.proxy.port, rejectUnauthorized: false, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
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
  const victim = await openConnection(stack.pki.clients.valid);
  const anonymous = await openConnection(undefined);
  expect(await ask(victim, '/before')).toBe(200);
  expect(await ask(anonymous, '/anon-before')).toBe(403);

  writeFileSync(crlPath, await createCrl(stack.pki.ca, [stack.pki.clients.revoked.serialHex, stack.pki.clients.valid.serialHex]));
  expect(stack.proxy.proxy.reloadTls()).toBe(true);

  stack.upstream.reset();
  expect(await ask(victim, '/after')).toBe('closed');
  expect(await ask(anonymous, '/anon-after')).toBe(403);
  expect(stack.upstream.seen).toEqual([]);
  victim.destroy();
  anonymous.destroy();
});

it('refuses TLS 1.2 renegotiation (the client certificate cannot change under a connection)', async () => {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', port: stack.proxy.port, rejectUnauthorized: false, maxVersion: 'TLSv1.2', cert: stack.pki.clients.twoSpiffe.certPem, key: stack.pki.clients.twoSpiffe.keyPem },
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
