// Headers an upstream names in its response's `Connection` are hop-by-hop (RFC 9110
// §7.6.1) and never reach the client, whatever characters their names hold: the request
// side compares names the CGI way (`X_Hop` = `X.Hop` = `X-Hop`, basics/headers.ts), the
// response side compares them as sent, and the Connection tokens must serve both.
import { request } from 'node:https';
import { expect, it } from 'vitest';
import { openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { startRawUpstream } from './raw-upstream.ts';

const RESPONSE =
  'HTTP/1.1 200 OK\r\n' +
  'Connection: close, X.Hop-Dotted, X_Hop_Underscore, x-hop-dashed\r\n' +
  'X.Hop-Dotted: upstream-internal-1\r\n' +
  'X_Hop_Underscore: upstream-internal-2\r\n' +
  'X-Hop-Dashed: upstream-internal-3\r\n' +
  'X-Kept: yes\r\n' +
  'Content-Length: 2\r\n\r\nok';

const stack = useProxyStack(({ upstream }) => ({ routes: [openRoute(upstream.url, { name: 'app', match: { host: 'app.test' } })] }), {
  upstream: () =>
    startRawUpstream((conn) => {
      if (conn.state !== 0 || !conn.data.includes('\r\n\r\n')) return;
      conn.state = 1;
      conn.socket.end(RESPONSE);
    }),
});

it("an upstream's Connection-named response headers never reach the client, in any spelling", async () => {
  const { status, raw } = await new Promise<{ status: number; raw: string[] }>((resolve, reject) => {
    request({ host: '127.0.0.1', port: stack.proxy.port, path: '/', rejectUnauthorized: false, headers: { host: 'app.test' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: res.rawHeaders }));
    })
      .on('error', reject)
      .end();
  });
  expect(status).toBe(200);
  const pairs: string[] = [];
  for (let i = 0; i < raw.length; i += 2) pairs.push(`${raw[i]}: ${raw[i + 1]}`);
  expect(pairs.filter((p) => p.includes('upstream-internal'))).toEqual([]);
  expect(pairs).toContain('x-kept: yes');
});
