// Micro-benchmark: the sanitation stage (src/pipeline/stages/sanitize.ts) on one request —
// framing checks, the canonical path and host, and the one pass over the client's headers
// that drops hop-by-hop and Connection-named headers and every identity-header family
// (src/basics/identity-headers.ts). A RequestContext is made per call, as for a request.
//
// Requests: a browser navigation (16 headers, Title-Case as browsers send them over
// HTTP/1.1), an API client (6 lower-case headers; its X-Request-Id is replaced), an attacker forging 12 identity
// headers of several families and spellings, and a hostile request that fills the
// default 16 KiB header limit (listen.limits.maxHeaderSize) with ~840 headers: forged
// identity headers in every spelling, headers its own Connection header names, and
// padding — the most work one request can ask of this stage. Last, the browser request
// under a config with `stripHeaders` (5 names, 3 prefixes): what an operator's extension
// costs requests that carry none of them.
// Run: npx node bench/micro/header-sanitation.ts [--quick] [--json]
import type { IncomingMessage } from 'node:http';
import { HeaderStripper } from '../../src/basics/identity-headers.ts';
import { RequestContext, type Snapshot } from '../../src/pipeline/context.ts';
import { sanitizeStage } from '../../src/pipeline/stages/sanitize.ts';
import { finish, measure, measuredTable, microOptions, setupLine, type Measured } from './measure.ts';

const opts = microOptions();

const browser = [
  'Host', 'app.example.com',
  'Connection', 'keep-alive',
  'Cache-Control', 'max-age=0',
  'sec-ch-ua', '"Chromium";v="131", "Not_A Brand";v="24"',
  'sec-ch-ua-mobile', '?0',
  'sec-ch-ua-platform', '"Linux"',
  'Upgrade-Insecure-Requests', '1',
  'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Sec-Fetch-Site', 'none',
  'Sec-Fetch-Mode', 'navigate',
  'Sec-Fetch-User', '?1',
  'Sec-Fetch-Dest', 'document',
  'Accept-Encoding', 'gzip, deflate, br, zstd',
  'Accept-Language', 'en-US,en;q=0.9',
  'Cookie', 'theme=dark; _ga=GA1.1.1234567890.1700000000',
];
const api = [
  'host', 'api.example.com',
  'authorization', 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig',
  'accept', 'application/json',
  'content-type', 'application/json',
  'user-agent', 'curl/8.5.0',
  'x-request-id', '3f0c',
];
const attacker = [
  'Host', 'app.example.com',
  'User-Agent', 'curl/8.5.0',
  'Accept', '*/*',
  'X-Forwarded-User', 'admin',
  'X_Auth_Request_Email', 'admin@example.com',
  'REMOTE_USER', 'admin',
  'X-Remote-Group', 'system:masters',
  'X-SSL-Client-S-DN', 'CN=admin',
  'SSL_CLIENT_VERIFY', 'SUCCESS',
  'x-forwarded-client-cert', 'URI=spiffe://td/admin',
  'X-Amzn-Oidc-Identity', 'admin',
  'Cf-Access-Authenticated-User-Email', 'admin@example.com',
  'X-Goog-Authenticated-User-Email', 'accounts.google.com:admin@example.com',
  'X-MS-CLIENT-PRINCIPAL-NAME', 'admin',
  'Impersonate-User', 'admin',
];

/** As many short headers as fit in the default 16 KiB limit (the request line and CRLFs counted). */
function hostile(limitBytes = 16 * 1024): string[] {
  const forged = ['X-Forwarded-User', 'x_forwarded_user', 'X-AUTH-REQUEST-EMAIL', 'Remote-User', 'x-remote-group', 'X-Ssl-Client-Cert', 'Cf-Access-Jwt-Assertion', 'X-Goog-Iap-Jwt-Assertion', 'Impersonate-Group', 'X-Amzn-Oidc-Data'];
  const named = Array.from({ length: 40 }, (_, i) => `x-hop-${i}`);
  const out = ['Host', 'app.example.com', 'User-Agent', 'curl/8.5.0', 'Connection', `keep-alive, ${named.join(', ')}`];
  let bytes = 'GET /dashboard?tab=1 HTTP/1.1\r\n'.length + out.reduce((n, v, i) => n + v.length + (i % 2 === 0 ? 2 : 2), 0) + 2;
  for (let i = 0; ; i++) {
    const kind = i % 3;
    const name = kind === 0 ? `${forged[i % forged.length]}${i >= forged.length * 3 ? `-${i}` : ''}` : kind === 1 ? named[i % named.length]! : `X-Pad-${i}`;
    const value = kind === 0 ? 'admin' : 'x';
    const size = name.length + 2 + value.length + 2;
    if (bytes + size > limitBytes) break;
    out.push(name, value);
    bytes += size;
  }
  return out;
}
const flood = hostile();

const plain = { trustedProxies: undefined, headerStripper: HeaderStripper.create() } as unknown as Snapshot;
const extended = {
  trustedProxies: undefined,
  headerStripper: HeaderStripper.create({
    names: ['x-tenant', 'x-legacy-user', 'x-employee-id', 'x-acme-role', 'x-org'],
    prefixes: ['x-acme-', 'x-corp-identity-', 'x-internal-'],
  }),
} as unknown as Snapshot;

function sanitize(label: string, snapshot: Snapshot, rawHeaders: string[], expectStripped: boolean): Measured {
  const req = { method: 'GET', url: '/dashboard?tab=1', httpVersionMajor: 1, httpVersionMinor: 1, rawHeaders } as unknown as IncomingMessage;
  const step = (): number => {
    const ctx = new RequestContext('id', snapshot, req, undefined, undefined);
    const result = sanitizeStage.run(ctx);
    if (!('next' in result)) throw new Error(`${label}: ${JSON.stringify(result)}`);
    return ctx.forwardHeaders.length + (ctx.strippedFamilies?.length ?? 0);
  };
  const ctx = new RequestContext('id', snapshot, req, undefined, undefined);
  if (!('next' in sanitizeStage.run(ctx))) throw new Error(`${label}: refused`);
  if ((ctx.strippedFamilies !== undefined) !== expectStripped) throw new Error(`${label}: stripped ${ctx.strippedFamilies?.length ?? 0} identity headers`);
  return measure(opts, `${label} (${rawHeaders.length / 2} headers)`, step);
}

const results = [
  sanitize('browser navigation', plain, browser, false),
  sanitize('API client', plain, api, true),
  sanitize('attacker: 12 forged identity headers', plain, attacker, true),
  sanitize('hostile: 16 KiB of headers', plain, flood, true),
  sanitize('browser navigation + configured stripHeaders', extended, browser, false),
];

finish(opts, {
  name: 'header-sanitation',
  title: 'Header sanitation (sanitize stage)',
  setup: setupLine(opts, 'sanitizeStage.run on one HTTP/1.1 GET, a RequestContext made per call'),
  tables: [measuredTable('Sanitation per request', results)],
  raw: { results, hostileHeaders: flood.length / 2 },
});
