// The one table of local replies: a stable code, the HTTP status, and the short
// public message. Users see only `{"error": message, "requestId"}`; the `details`
// string of a reply (e.g. `encoded-slash`, `policy-deny`) goes to the access log only,
// never to the client, so policy internals are not disclosed (Envoy's local-reply habit).

export const REPLIES = {
  ok: { status: 200, message: 'ok' },
  'no-content': { status: 204, message: 'no content' },
  found: { status: 302, message: 'found' },
  'see-other': { status: 303, message: 'see other' },
  'bad-request': { status: 400, message: 'bad request' },
  unauthorized: { status: 401, message: 'unauthorized' },
  forbidden: { status: 403, message: 'forbidden' },
  'not-found': { status: 404, message: 'not found' },
  'method-not-allowed': { status: 405, message: 'method not allowed' },
  'payload-too-large': { status: 413, message: 'request body too large' },
  'too-many-requests': { status: 429, message: 'too many requests' },
  'internal-error': { status: 500, message: 'internal error' },
  'bad-gateway': { status: 502, message: 'bad gateway' },
  'service-unavailable': { status: 503, message: 'service unavailable' },
  'gateway-timeout': { status: 504, message: 'gateway timeout' },
} as const;

export type ReplyCode = keyof typeof REPLIES;

/** Base error with a stable code, as callers switch on `err.code` (jose's habit). */
export class ZtError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'ZtError';
  }
}
