// The plain-HTTP redirect listener (`listen.redirectHttp`) over real sockets: every
// request is sent to the same host and path on the HTTPS port — 301 for GET/HEAD, 308
// for anything else so the method and body survive — a bad Host or a target that is not
// a path is 400, and nothing ever reaches the upstream over cleartext.
import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { openRoute, startTestProxy } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const stack = useProxyStack(({ upstream }) => ({
  listen: { redirectHttp: { address: '127.0.0.1:0' } },
  routes: [openRoute(upstream.url)],
}));
let redirectPort: number;

beforeAll(() => {
  const redirect = stack.proxy.proxy.addresses.redirect;
  if (!redirect) throw new Error('redirect listener not started');
  redirectPort = redirect.port;
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  text: string;
}

/** Exact bytes over plain TCP to the redirect listener; reads until the server closes. */
function plain(bytes: string, timeoutMs = 2000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: redirectPort }, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body, text });
    });
  });
}

const req = (method: string, target: string, host: string | undefined, extra = ''): string =>
  `${method} ${target} HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}${extra}Connection: close\r\n\r\n`;

describe('redirect listener', () => {
  it('binds where configured (127.0.0.1, its own port)', () => {
    const r = stack.proxy.proxy.addresses.redirect!;
    expect(r.address).toBe('127.0.0.1');
    expect(r.port).not.toBe(stack.proxy.port);
    expect(r.port).not.toBe(stack.proxy.proxy.addresses.admin.port);
  });

  it('GET → 301 to the same host, path and query on the HTTPS port', async () => {
    stack.upstream.reset();
    const res = await plain(req('GET', '/a?b=1', 'localhost'));
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(`https://localhost:${stack.proxy.port}/a?b=1`);
    expect(res.headers['content-length']).toBe('0');
    expect(res.headers.connection).toBe('close');
    expect(stack.upstream.seen).toEqual([]);
  });

  it('HEAD → 301; POST, PUT, DELETE, PATCH → 308 (method and body preserved by the client)', async () => {
    stack.upstream.reset();
    const cases: [string, number][] = [['HEAD', 301], ['POST', 308], ['PUT', 308], ['DELETE', 308], ['PATCH', 308], ['OPTIONS', 308]];
    for (const [method, status] of cases) {
      const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? 'secret=1' : '';
      const extra = body ? `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n` : '';
      const res = await plain(req(method, '/form?x=1', 'localhost', extra) + body);
      expect([method, res.status, res.headers.location]).toEqual([method, status, `https://localhost:${stack.proxy.port}/form?x=1`]);
    }
    expect(stack.upstream.seen).toEqual([]);
  });

  it('the Host port is replaced by the HTTPS port; case and a trailing dot are canonical', async () => {
    expect((await plain(req('GET', '/p', 'localhost:8080'))).headers.location).toBe(`https://localhost:${stack.proxy.port}/p`);
    expect((await plain(req('GET', '/p', 'App.Example.COM.'))).headers.location).toBe(`https://app.example.com:${stack.proxy.port}/p`);
    expect((await plain(req('GET', '/p', '127.0.0.1:80'))).headers.location).toBe(`https://127.0.0.1:${stack.proxy.port}/p`);
  });

  it('an IPv6 Host is bracketed in the Location', async () => {
    const res = await plain(req('GET', '/v6', '[::1]:8080'));
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(`https://[::1]:${stack.proxy.port}/v6`);
  });

  it('the path is passed through as sent (it is only ever a path on our own host)', async () => {
    const res = await plain(req('GET', '//evil.example/x?y=%2F', 'localhost'));
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(`https://localhost:${stack.proxy.port}//evil.example/x?y=%2F`);
    expect(new URL(res.headers.location!).host).toBe(`localhost:${stack.proxy.port}`);
  });

  it('a bad or missing Host → 400, no Location', async () => {
    stack.upstream.reset();
    const hosts: (string | undefined)[] = [undefined, '', 'bad host', 'evil.example/x', 'a..b', 'localhost:0', 'localhost:99999', 'localhost:x', '[::1', 'user@evil.example', '-bad.example'];
    for (const host of hosts) {
      const res = await plain(req('GET', '/a', host));
      expect([host, res.status]).toEqual([host, 400]);
      expect(res.headers.location).toBeUndefined();
    }
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a target that is not a path (absolute-form, asterisk) → 400, never an open redirect', async () => {
    stack.upstream.reset();
    for (const [method, target] of [['GET', 'http://evil.example/x'], ['GET', 'https://evil.example/'], ['OPTIONS', '*']] as const) {
      const res = await plain(req(method, target, 'localhost'));
      expect([method, target, res.status]).toEqual([method, target, 400]);
      expect(res.headers.location).toBeUndefined();
    }
    expect(stack.upstream.seen).toEqual([]);
  });

  it('CONNECT is never tunnelled nor redirected: a 400 or a closed connection', async () => {
    const res = await plain(req('CONNECT', 'evil.example:443', 'evil.example:443'));
    expect([0, 400]).toContain(res.status);
    expect(res.headers.location).toBeUndefined();
    expect(res.text).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('an Upgrade request is redirected like any other, never switched', async () => {
    const res = await plain(req('GET', '/ws', 'localhost', 'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n').replace('Connection: close', 'Connection: Upgrade'));
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(`https://localhost:${stack.proxy.port}/ws`);
  });

  it('closes the connection after each answer (no keep-alive on cleartext)', async () => {
    const res = await plain(req('GET', '/one', 'localhost').replace('Connection: close\r\n', '') + req('GET', '/two', 'localhost'));
    expect(res.text.match(/^HTTP\/1\.1 /gm)).toHaveLength(1);
    expect(res.headers.location).toBe(`https://localhost:${stack.proxy.port}/one`);
  });

  it('shutdown closes the redirect listener too', async () => {
    const own = await startTestProxy({
      listen: { tls: { cert: stack.pki.server.certPath, key: stack.pki.server.keyPath }, redirectHttp: { address: '127.0.0.1:0' } },
      routes: [openRoute(stack.upstream.url)],
    });
    const port = own.proxy.addresses.redirect!.port;
    await own.close();
    await expect(
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port }, () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', reject);
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
