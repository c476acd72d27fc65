// Legacy upstreams that read paths loosely (route `paths: caseInsensitive`): IIS on
// NTFS serves `/ADMIN`, `/Admin/x`, `/admin.`, `/admin%20`, `/admin::$DATA`,
// `/ADMINI~1` and `/(S(x))/admin` as `/admin`. A deny on `/admin` that compares the
// path byte for byte protects nothing there. And a Unicode letter that some reader
// folds onto ASCII (`İ`, `ı`, `ſ`, the Kelvin sign, fullwidth `Ａ`) must not let a
// path slip past the deny or choose another route.
//
// Safe outcome: each spelling is denied (403) or refused (400) and the upstream sees
// nothing; allowed requests reach the upstream with the path as the client wrote it
// (canonical, never case-folded).
import { beforeEach, describe, expect, it } from 'vitest';
import { openRoute, rawGet } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let iis: TestUpstream;
let modern: TestUpstream;

const ADMIN_ONLY = { allow: { spiffe: { id: 'spiffe://example.org/ns/ops/sa/admin' } } };

// The stack's upstream is the IIS site (reset before each test by the stack).
const stack = useProxyStack(async ({ upstream, onClose }) => {
  iis = upstream;
  modern = await startUpstream();
  onClose(() => modern.close());
  return {
    routes: [
      // One IIS site: everything open except /admin.
      openRoute(iis.url, {
        name: 'iis',
        match: { host: 'iis.test' },
        paths: 'caseInsensitive',
        policy: { allow: { accept: true }, deny: { or: [{ path: { prefix: '/admin' } }, { path: { exact: '/Web.config' } }] } },
      }),
      // One host, two upstreams: an IIS admin area behind a strict route, and a
      // case-sensitive modern app for the rest. `/ADMIN` must not reach the modern
      // route (nor its upstream) because it failed a byte-for-byte `/admin`.
      openRoute(iis.url, { name: 'legacy-admin', match: { host: 'mixed.test', pathPrefix: '/Admin' }, paths: { case: 'insensitive' }, policy: ADMIN_ONLY }),
      openRoute(modern.url, { name: 'site', match: { host: 'mixed.test' } }),
    ],
  };
});

beforeEach(() => modern.reset());

const send = (host: string, target: string) => rawGet(stack.proxy.port, host, target);

const nothingForwarded = () => {
  expect(iis.seen.map((s) => s.url)).toEqual([]);
  expect(modern.seen.map((s) => s.url)).toEqual([]);
};

describe('a deny on /admin holds for every spelling IIS reads as /admin', () => {
  it.each([
    ['/ADMIN', 403, 'upper case'],
    ['/Admin/users', 403, 'mixed case, deeper'],
    ['/aDmIn/', 403, 'mixed case, trailing slash'],
    ['/WEB.CONFIG', 403, 'exact, in another case'],
    ['/web.config/', 403, 'exact, trailing slash'],
    ['/admin.', 400, 'trailing dot (Win32 drops it)'],
    ['/admin%20', 400, 'trailing space, encoded'],
    ['/admin%2e', 400, 'trailing dot, encoded'],
    ['/admin%2E%20%2E/x', 400, 'trailing dots and spaces, then deeper'],
    ['/admin./x', 400, 'trailing dot on an inner segment'],
    ['/ADMIN%20/x', 400, 'trailing space on an inner segment, upper case'],
    ['/admin::$DATA', 400, 'NTFS alternate data stream'],
    ['/admin:$i30:$index_allocation/x', 400, 'NTFS directory index stream'],
    ['/admin%3A%3A$DATA', 400, 'alternate data stream, encoded colons'],
    ['/ADMINI~1/x', 400, '8.3 short name'],
    ['/(S(abc))/admin/x', 400, 'ASP.NET cookieless session segment'],
    ['/%28S%28abc%29%29/admin', 400, 'cookieless segment, encoded'],
    ['/admin%2a', 400, 'wildcard character'],
    ['/CON', 400, 'DOS device name'],
    ['/ADM%C4%B0N', 400, 'İ (U+0130): lower-cases to i + dot; plain i in a Turkish locale'],
    ['/adm%C4%B1n', 400, 'ı (U+0131): upper-cases to I'],
    ['/admin%E2%84%AA', 400, 'Kelvin sign K (U+212A): lower-cases to k'],
    ['/%C5%BFecret', 400, 'ſ (U+017F): upper-cases to S'],
    ['/%EF%BC%A1DMIN', 400, 'fullwidth Ａ (U+FF21): NFKC and Windows best-fit read A'],
    ['/admin%EF%BC%8Fx', 400, 'fullwidth solidus (U+FF0F): a "/" to best-fit'],
    ['/admin%C2%A0', 400, 'no-break space (NFKC: a space)'],
  ])('GET %s → %i (%s), nothing forwarded', async (target, status) => {
    const res = await send('iis.test', target);
    expect(res.status).toBe(status);
    nothingForwarded();
  });
});

describe('allowed requests reach the IIS upstream as the client wrote them', () => {
  it.each([
    ['/Public/Page.aspx?Q=MiXeD', 'mixed case is not rewritten'],
    ['/%C3%89cole/Caf%C3%A9', 'non-ASCII letters stay as sent'],
    ['/stra%C3%9Fe', 'ß (no simple upper-case mapping in NTFS) passes'],
    ['/Administrator', 'a longer name is not /admin (whole segments)'],
    ['/files/report.pdf', 'an inner dot is fine'],
    ['/~user/x', 'a tilde without a digit is not a short name'],
  ])('GET %s (%s)', async (target) => {
    const res = await send('iis.test', target);
    expect(res.status).toBe(200);
    expect(iis.seen.map((s) => s.url)).toEqual([target]);
  });
});

describe('route selection: a case-insensitive route is chosen by the folded path', () => {
  it.each([
    ['/admin', 'as configured, lower case'],
    ['/ADMIN', 'upper case'],
    ['/aDMIN/settings', 'mixed case, deeper'],
  ])('GET %s goes to the IIS admin route (403 without the admin identity), not to the open route', async (target) => {
    const res = await send('mixed.test', target);
    expect(res.status).toBe(403);
    nothingForwarded();
  });

  it.each([
    ['/Admin./settings', 'trailing dot: Windows opens /admin/settings'],
    ['/ADMIN%20/x', 'trailing space'],
    ['/admin::$DATA', 'alternate data stream of /admin'],
    ['/(S(x))/ADMIN/x', 'cookieless segment ASP.NET removes'],
    ['/ADM%C4%B0N/x', 'a letter only some readers fold onto ASCII'],
    ['/%EF%BD%81dmin', 'fullwidth ａ'],
    ['/public/%C4%B1', 'a confusable anywhere in a host with a case-insensitive route'],
  ])('GET %s (%s) → 400 and reaches neither upstream', async (target) => {
    const res = await send('mixed.test', target);
    expect(res.status).toBe(400);
    nothingForwarded();
  });

  it.each(['/', '/Administrator', '/shop/Admin', '/A%C3%A9'])('GET %s goes to the case-sensitive route, unchanged', async (target) => {
    const res = await send('mixed.test', target);
    expect(res.status).toBe(200);
    expect(modern.seen.map((s) => s.url)).toEqual([target]);
    expect(iis.seen).toEqual([]);
  });

  it('the case-sensitive route keeps its own rules: Windows names are not refused there', async () => {
    const res = await send('mixed.test', '/shop/item.');
    expect(res.status).toBe(200);
    expect(modern.seen.map((s) => s.url)).toEqual(['/shop/item.']);
  });
});
