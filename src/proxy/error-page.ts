// Pages for people: a browser navigation that ztproxy refuses gets a small HTML page —
// what happened in plain words, who is signed in (with "Sign out" and "Sign in as
// someone else"), the request id — instead of the JSON error an API client gets. Same
// status, same headers otherwise; no policy internals unless `errorPages.showReasons`.
//
// Threats the page is built against:
// - XSS through what it shows: the user name is an IdP claim, the reason may carry an
//   IdP's `error` parameter; everything dynamic is HTML-escaped, and the CSP allows no
//   script at all (`default-src 'none'`), only the one inline style, by its hash.
// - Clickjacking of its "Sign out" button: `frame-ancestors 'none'` + X-Frame-Options.
// - Leaking the request URL (its query may hold tokens) to the next site: no-referrer.
// - A shared cache serving one person's page (name, CSRF token) to another: no-store,
//   and `Vary` names every header the choice of body depends on.
// No CSP `form-action`: Chromium applies it to the redirects after the sign-out POST,
// which end at the IdP's end-session endpoint on another origin (see the login pages).
import { createHash } from 'node:crypto';
import type { ReplyCode } from '../basics/errors.ts';
import { escapeHtml } from '../basics/html.ts';
import type { Subject } from '../basics/subject.ts';
import { logoutCsrfToken } from '../identity/session/csrf.ts';
import { safeReturnPath } from '../identity/oidc/return-url.ts';
import type { RequestContext } from '../pipeline/context.ts';
import type { LocalReply } from '../pipeline/stage.ts';
import { CALLBACK_PATH, LOGIN_PATH, LOGOUT_PATH } from '../pipeline/stages/login-endpoints.ts';

/** Every header that decides between the page and the JSON body. */
export const ERROR_VARY = 'Accept, Sec-Fetch-Mode, Sec-Fetch-Dest';

// Colours pass WCAG AA contrast on white (#1a1a1a 17:1, #555 7.5:1, #0b57d0 6.4:1).
const STYLE =
  'body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff}' +
  'main{max-width:36em;margin:3em auto;padding:0 1em}h1{font-size:1.5em;margin:0 0 .5em}' +
  'a{color:#0b57d0}code{font-family:ui-monospace,monospace;word-break:break-all}' +
  '.who{border-top:1px solid #ccc;padding-top:1em;margin-top:1.5em}form{display:inline;margin-right:1em}' +
  'button{font:inherit;padding:.3em 1em;cursor:pointer}.id{color:#555;font-size:.875em}';

/** The hash of the one inline style, computed once: the only thing the CSP allows. */
const STYLE_SOURCE = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

const ERROR_PAGE_CSP = `default-src 'none'; style-src ${STYLE_SOURCE}; frame-ancestors 'none'; base-uri 'none'`;

export const ERROR_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': ERROR_PAGE_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // Nothing on another origin may embed the page (it carries a CSRF token and a name).
  'cross-origin-resource-policy': 'same-origin',
  vary: ERROR_VARY,
});

interface PageText {
  readonly title: string;
  /** Plain words; static HTML (no user data). */
  readonly text: string;
}

const AGAIN = 'Try again in a moment.';

const TEXTS: Readonly<Partial<Record<ReplyCode, PageText>>> = {
  'bad-request': {
    title: 'Bad request',
    text: 'This request could not be accepted as it was sent: its address or headers are malformed or ambiguous. Check the address, or go back and try again.',
  },
  unauthorized: {
    title: 'Credentials needed',
    text: 'This page needs credentials that your browser did not present, such as a client certificate or an access token. Ask the administrator of this application how to get access.',
  },
  forbidden: {
    title: 'Access denied',
    text: 'You are not allowed to open this page. If you think you should be, ask the administrator of this application and quote the request id below.',
  },
  'not-found': { title: 'Page not found', text: 'There is nothing at this address. Check it for typing mistakes.' },
  'method-not-allowed': { title: 'Not allowed here', text: 'This address does not accept this kind of request.' },
  'payload-too-large': { title: 'Too much data', text: 'What you tried to send is larger than this application accepts.' },
  'too-many-requests': { title: 'Too many requests', text: 'Too many requests came from you in a short time.' },
  'internal-error': {
    title: 'Something went wrong',
    text: 'This request could not be handled. Try again; if it keeps happening, tell the administrator the request id below.',
  },
  'bad-gateway': { title: 'Application unreachable', text: `The application behind this address could not be reached. ${AGAIN}` },
  'service-unavailable': {
    title: 'Temporarily unavailable',
    text: `Your access could not be checked right now, so the request was stopped rather than let through unchecked. ${AGAIN}`,
  },
  'gateway-timeout': { title: 'Application not responding', text: `The application behind this address did not answer in time. ${AGAIN}` },
};

// Variants for ztproxy's own endpoints and a configured login, where the generic words
// would mislead.
const SIGN_IN_NEEDED: PageText = { title: 'Sign-in required', text: 'You need to sign in to open this page.' };
const SIGN_IN_FAILED: PageText = {
  title: 'Sign-in failed',
  text: 'The sign-in could not be completed: it took too long, was started in another browser or tab, or the identity provider refused it.',
};
const SIGN_IN_UNAVAILABLE: PageText = { title: 'Sign-in unavailable', text: `The sign-in service is not answering right now. ${AGAIN}` };
const CREDENTIALS_REFUSED: PageText = {
  title: 'Credentials not accepted',
  text: 'The credentials sent with this request were not accepted: they may have expired, or were issued for something else.',
};
const SIGN_OUT_UNCONFIRMED: PageText = {
  title: 'Sign-out not confirmed',
  text: 'This sign-out did not come from a page of this site, or your session had already ended.',
};


// Control characters and bidirectional overrides could make a name display as another
// (`alice\u202Eexample`); a name longer than this is cut (the page stays small).
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const MAX_NAME = 120;

function shown(value: string): string {
  const clean = value.replace(UNPRINTABLE, '\uFFFD');
  return escapeHtml(clean.length > MAX_NAME ? `${clean.slice(0, MAX_NAME)}\u2026` : clean);
}

function displayName(subject: Subject): string {
  const name = subject.claims['name'];
  const email = subject.email;
  if (typeof name === 'string' && name !== '') return email === undefined ? name : `${name} (${email})`;
  return email ?? subject.sub;
}

/**
 * The request's preference: a `text/html` range with q > 0 that beats `application/json`
 * (an API client naming both equally keeps JSON). Only called on a refusal.
 */
function prefersHtml(accept: string | undefined): boolean {
  if (accept === undefined || !/text\/html/i.test(accept)) return false;
  let html = 0;
  let json = 0;
  for (const range of accept.split(',')) {
    const parts = range.split(';');
    const type = parts[0]!.trim().toLowerCase();
    if (type !== 'text/html' && type !== 'application/json') continue;
    let q = 1;
    for (let i = 1; i < parts.length; i++) {
      const [k, v] = parts[i]!.split('=');
      // A q we cannot read counts as "not acceptable": JSON is the safe default.
      if (k!.trim().toLowerCase() === 'q') q = /^\s*(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*$/.test(v ?? '') ? Number(v) : 0;
    }
    if (type === 'text/html') html = Math.max(html, q);
    else json = Math.max(json, q);
  }
  return html > json;
}

/**
 * A person's browser loading a page (not a fetch/XHR, not an API client): GET, HEAD or
 * a form's POST, preferring HTML, and — when the browser says (Fetch Metadata) — a
 * top-level navigation. Upgrades (WebSocket) never get here: they answer on the socket.
 */
export function isBrowserNavigation(ctx: RequestContext): boolean {
  const req = ctx.req;
  const method = req.method;
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return false;
  const headers = req.headers;
  const mode = headers['sec-fetch-mode'];
  if (mode !== undefined && mode !== 'navigate') return false;
  const dest = headers['sec-fetch-dest'];
  if (dest !== undefined && dest !== 'document') return false;
  return prefersHtml(headers.accept);
}

function textFor(ctx: RequestContext, local: LocalReply): PageText | undefined {
  const path = ctx.path;
  const code = local.code;
  if (path === CALLBACK_PATH && (code === 'bad-request' || code === 'unauthorized')) return SIGN_IN_FAILED;
  if (path === LOGIN_PATH && code === 'service-unavailable') return SIGN_IN_UNAVAILABLE;
  if (path === CALLBACK_PATH && code === 'service-unavailable') return SIGN_IN_UNAVAILABLE;
  if (path === LOGOUT_PATH && code === 'forbidden') return SIGN_OUT_UNCONFIRMED;
  if (code === 'unauthorized') {
    // RFC 6750 §3: an `error` in the challenge means a token was sent and refused.
    const challenge = local.headers?.['www-authenticate'];
    if (typeof challenge === 'string' && challenge.includes('error=')) return CREDENTIALS_REFUSED;
    if (ctx.snapshot.sessions !== undefined) return SIGN_IN_NEEDED;
  }
  return TEXTS[code];
}

/** Longest return path a page links to: a long query would make the page large (its path is kept). */
const MAX_RETURN = 512;

function returnPath(ctx: RequestContext): string {
  // Back to this page after the login; ztproxy's own paths (and anything unsafe) → `/`.
  if (ctx.path === '') return '%2F';
  const full = encodeURIComponent(ctx.target);
  if (full.length <= MAX_RETURN) return encodeURIComponent(safeReturnPath(ctx.target));
  const path = encodeURIComponent(ctx.path);
  return path.length <= MAX_RETURN ? encodeURIComponent(safeReturnPath(ctx.path)) : '%2F';
}

function loginHref(ctx: RequestContext, reauth: boolean): string {
  return escapeHtml(`${LOGIN_PATH}?rd=${returnPath(ctx)}${reauth ? '&reauth=1' : ''}`);
}

/** Whole seconds of a Retry-After the reply carries, if any. */
function retryAfter(local: LocalReply): string | undefined {
  const v = local.headers?.['retry-after'];
  return typeof v === 'string' && /^\d{1,6}$/.test(v) ? v : undefined;
}

/**
 * The page for a refusal, or undefined when this request should keep the JSON body (not
 * a browser navigation, or a reply with a body of its own).
 */
export function errorPage(ctx: RequestContext, local: LocalReply, status: number): string | undefined {
  if (status < 400 || local.body !== undefined || !isBrowserNavigation(ctx)) return undefined;
  const text = textFor(ctx, local);
  if (text === undefined) return undefined;
  const sessions = ctx.snapshot.sessions !== undefined;
  let body = `<p>${text.text}</p>`;
  if (local.code === 'too-many-requests') {
    const wait = retryAfter(local);
    body += `<p>Wait ${wait === undefined ? 'a moment' : `${wait} seconds`} before you try again.</p>`;
  }
  const subject = ctx.subject;
  if (subject !== undefined) {
    body += `<div class="who"><p>Signed in as <strong>${shown(displayName(subject))}</strong>.</p>`;
    if (sessions && ctx.sessionId !== undefined) {
      body +=
        `<form method="post" action="${LOGOUT_PATH}"><input type="hidden" name="csrf" value="${logoutCsrfToken(ctx.sessionId)}">` +
        `<button type="submit">Sign out</button></form>`;
    }
    // prompt=login (the step-up login): the IdP asks who is signing in, whoever was.
    if (sessions) body += `<a href="${loginHref(ctx, true)}">Sign in as someone else</a>`;
    body += '</div>';
  } else if (sessions && (text === SIGN_IN_NEEDED || text === SIGN_IN_FAILED || text === CREDENTIALS_REFUSED)) {
    body += `<p><a href="${loginHref(ctx, false)}">Sign in</a></p>`;
  } else if (text === SIGN_OUT_UNCONFIRMED) {
    body += `<p><a href="${LOGOUT_PATH}">Go to the sign-out page</a></p>`;
  }
  if (ctx.snapshot.config.errorPages.showReasons && local.details !== '') body += `<p>Reason: <code>${shown(local.details)}</code></p>`;
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${text.title} (${status})</title><style>${STYLE}</style></head><body><main><h1>${text.title}</h1>${body}` +
    `<p class="id">Request id: <code>${escapeHtml(ctx.id)}</code></p></main></body></html>`
  );
}
