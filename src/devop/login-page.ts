// The tiny HTML login form of the development OP. Every value that reaches the
// page is escaped: the interaction uid and a username echoed after a failed login
// come from the request, and the page must not become an XSS vector even in dev.
import { escapeHtml } from '../basics/html.ts';

export function renderLoginPage(opts: { uid: string; clientId: string; username?: string; error?: string }): string {
  const uid = escapeHtml(opts.uid);
  const error = opts.error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(opts.error)}</p>`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>ztproxy dev OP: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>Sign in</h1>
<p>to <code>${escapeHtml(opts.clientId)}</code> (development OpenID Provider)</p>
${error}
<form method="post" action="/interaction/${uid}/login" autocomplete="off">
<label>Username <input name="username" required autofocus value="${escapeHtml(opts.username ?? '')}"></label>
<label>Password <input name="password" type="password" required></label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
`;
}
