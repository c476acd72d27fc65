// The demo application behind ztproxy: a plain HTTP app that knows nothing of identity
// and shows what reached it — method, path and the headers ztproxy forwarded. A browser
// gets a small page with the signed-in user (from ztproxy's identity headers and the
// X-ZT-Assertion claims), the device posture ztproxy verified and a sign-out button;
// anything else gets JSON, with the device posture first.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { decodeJwt } from 'jose';
import { escapeHtml } from '../basics/html.ts';


function assertionClaims(req: IncomingMessage): Record<string, unknown> | undefined {
  const assertion = req.headers['x-zt-assertion'];
  if (typeof assertion !== 'string') return undefined;
  try {
    // Display only: a real app verifies it against /.well-known/ztproxy/jwks.json.
    return decodeJwt(assertion);
  } catch {
    return undefined;
  }
}

function page(req: IncomingMessage): string {
  const user = req.headers['x-forwarded-user'];
  const claims = assertionClaims(req);
  const who = typeof user === 'string' ? `Signed in as <strong>${escapeHtml(user)}</strong>` : 'Not signed in (or identity headers are off for this route).';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ztproxy demo app</title></head>
<body style="font-family:sans-serif;margin:2em;max-width:60em">
<h1>ztproxy demo app</h1>
<p id="who">${who}</p>
<p>Groups: <span id="groups">${escapeHtml(String(req.headers['x-forwarded-groups'] ?? '-'))}</span></p>
<h2>Device posture ztproxy verified</h2>
<pre id="device">${escapeHtml(JSON.stringify(claims?.device ?? null, null, 2))}</pre>
<h2>X-ZT-Assertion claims</h2>
<pre id="claims">${escapeHtml(JSON.stringify(claims ?? null, null, 2))}</pre>
<form method="post" action="/.ztproxy/logout"><button type="submit">Sign out</button></form>
<h2>Request as the app saw it</h2>
<pre>${escapeHtml(`${req.method} ${req.url}\n${JSON.stringify(req.headers, null, 2)}`)}</pre>
</body></html>
`;
}

export function startDemoUpstream(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET' && String(req.headers.accept ?? '').includes('text/html')) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" }).end(page(req));
        return;
      }
      // The device and its posture as ztproxy told it (the `device` claim of X-ZT-Assertion;
      // null when the request carried no posture that counts).
      const device = assertionClaims(req)?.device ?? null;
      const body = JSON.stringify({ app: 'ztproxy demo upstream', method: req.method, url: req.url, device, headers: req.headers }, null, 2);
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
