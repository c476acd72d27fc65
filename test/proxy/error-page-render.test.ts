// The error page renderer on its own, for what no running proxy can produce yet (nothing
// answers 429 today; the page must already say when to try again) and for the worst
// case of its size: every local error code, the longest and most escape-heavy name.
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { REPLIES, type ReplyCode } from '../../src/basics/errors.ts';
import type { Subject } from '../../src/basics/subject.ts';
import { RequestContext, type Snapshot } from '../../src/pipeline/context.ts';
import { errorPage } from '../../src/proxy/error-page.ts';
import { NAVIGATION } from '../helpers/error-pages.ts';

function context(opts: { subject?: Subject; sessions?: boolean; showReasons?: boolean; path?: string } = {}): RequestContext {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.headers = { ...NAVIGATION };
  // Only what the renderer reads of a snapshot.
  const snapshot = { sessions: opts.sessions ? {} : undefined, config: { errorPages: { showReasons: opts.showReasons ?? false } } } as unknown as Snapshot;
  const ctx = new RequestContext('3f1c9a2e-0d4b-4c1e-9a57-6b2f0e8d1c3a', snapshot, req, undefined, undefined);
  ctx.path = opts.path ?? '/admin/reports';
  ctx.subject = opts.subject;
  if (opts.subject !== undefined && opts.sessions) ctx.sessionId = 'session-id-0123456789abcdef';
  return ctx;
}

const ERROR_CODES = (Object.keys(REPLIES) as ReplyCode[]).filter((c) => REPLIES[c].status >= 400);

describe('error page renderer', () => {
  it('429 says how long to wait, from Retry-After', () => {
    const page = errorPage(context(), { code: 'too-many-requests', details: 'lockout', headers: { 'retry-after': '90' } }, 429)!;
    expect(page).toContain('<h1>Too many requests</h1>');
    expect(page).toContain('Wait 90 seconds before you try again.');
    expect(page).not.toContain('lockout');
  });

  it('429 without a usable Retry-After says "a moment" (a date or junk is not echoed)', () => {
    for (const retry of [undefined, 'Wed, 21 Oct 2026 07:28:00 GMT', '<b>1</b>', '12345678']) {
      const headers = retry === undefined ? undefined : { 'retry-after': retry };
      const page = errorPage(context(), { code: 'too-many-requests', details: 'rate-limited', headers }, 429)!;
      expect(page).toContain('Wait a moment before you try again.');
    }
  });

  it.each(ERROR_CODES)('%s: a page with its status in the title, under 4 KB in the worst case', (code) => {
    const worst = '<"&\'>'.repeat(200);
    const subject: Subject = {
      source: 'session',
      issuer: 'https://idp.test',
      sub: worst,
      email: worst,
      emailVerified: true,
      groups: [],
      claims: { name: worst },
      authTime: undefined,
      acr: undefined,
      amr: [],
    };
    const ctx = context({ subject, sessions: true, showReasons: true, path: `/${'%3C'.repeat(170)}` });
    const status = REPLIES[code].status;
    const page = errorPage(ctx, { code, details: worst }, status)!;
    expect(page).toContain(`(${status})</title>`);
    expect(page).not.toMatch(/<(?!\/?(?:html|head|meta|title|style|body|main|h1|p|div|strong|form|input|button|a|code)\b|!doctype)/);
    expect(Buffer.byteLength(page)).toBeLessThan(4096);
  });

  it('redirects, ok and own bodies are never replaced', () => {
    expect(errorPage(context(), { code: 'found', details: 'login-redirect', body: '' }, 302)).toBeUndefined();
    expect(errorPage(context(), { code: 'ok', details: 'assertion-jwks', body: '{}' }, 200)).toBeUndefined();
    expect(errorPage(context(), { code: 'forbidden', details: 'x', body: 'own' }, 403)).toBeUndefined();
  });
});
