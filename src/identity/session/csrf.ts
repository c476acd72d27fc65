// The logout form's CSRF token. Every page that offers "Sign out" (ztproxy's logout
// page, its error pages) carries the same token: a digest of the session id, which only
// the HttpOnly session cookie holds, so a cross-site page can neither read nor compute
// it. Those pages send `Referrer-Policy: no-referrer`, which makes Chromium send
// `Origin: null` with the form's POST — the token, not the Origin check, is what lets
// their sign-out through.
import { createHash } from 'node:crypto';

export function logoutCsrfToken(sid: string): string {
  return createHash('sha256').update(`ztproxy-logout\n${sid}`).digest('base64url');
}
