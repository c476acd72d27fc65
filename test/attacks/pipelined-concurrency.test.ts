// Pipelined requests (RFC 9112 §9.3.2) used to be run all at once: Node hands each one
// over as soon as it is parsed, and answers them in order. One connection pipelining
// thousands of requests had as many upstream requests in flight (5,000 within a second,
// ~28 KB of heap each) whatever maxConnectionsPerIp says, and a POST pipelined behind
// another ran before the first one's answer was known. Now a connection's requests are
// taken one at a time (as nginx and Envoy do), at most MAX_WAITING may wait, and a client
// pipelining more is cut.
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_WAITING } from '../../src/proxy/pipelining.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { openRoute, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let pki: TestPki;
let upstream: TestUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startUpstream();
  proxy = await startTestProxy({ listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } }, routes: [openRoute(upstream.url)] });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await pki?.cleanup();
});

/** Sends `bytes` on one connection; resolves with what came back once it closed (or after `ms`). */
function exchange(bytes: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect({ host: '127.0.0.1', port: proxy.port, rejectUnauthorized: false, servername: 'localhost' }, () => socket.write(bytes));
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

describe('pipelined requests', () => {
  it('are forwarded one at a time, in order, each after the answer before it', async () => {
    upstream.reset();
    const slow = 'POST /slow?ms=300 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n\r\na';
    const last = 'GET /last HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
    const answered = exchange(slow + slow + last, 10_000);
    while (upstream.seen.length === 0) await new Promise((r) => setTimeout(r, 10));
    // The first is answered 300 ms after the upstream got it; meanwhile nothing else came.
    await new Promise((r) => setTimeout(r, 150));
    expect(upstream.seen.length).toBe(1);
    const text = await answered;
    expect(text.match(/HTTP\/1\.1 200 /g)).toHaveLength(3);
    expect(upstream.seen.map((s) => s.url)).toEqual(['/slow?ms=300', '/slow?ms=300', '/last']);
  });

  it(`a client pipelining more than ${MAX_WAITING} behind one in flight is cut; the upstream sees one`, async () => {
    upstream.reset();
    const one = 'GET /slow?ms=500 HTTP/1.1\r\nHost: localhost\r\n\r\n';
    await exchange(one.repeat(5000), 5000);
    expect(upstream.seen.length).toBe(1);
  });
});
