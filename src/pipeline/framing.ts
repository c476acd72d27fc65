// Message framing (RFC 9112 §6): how long a request is must be read the same way by
// every hop, or the bytes one hop takes as a body another takes as the next request
// (request smuggling: CL.TE, TE.CL, TE.TE, CL.0). A request whose framing is faulty — or
// merely one that some hop behind ztproxy could read differently — is answered 400 and
// its connection closed (src/proxy/reply.ts), whatever its HTTP version, and whether it
// arrives as a request, a WebSocket handshake or a CONNECT.
//
// Node's parser (llhttp, strict) refuses most faulty framing itself before any stage
// runs (clientError → 400): Content-Length together with Transfer-Encoding, several or
// list-valued or non-digit Content-Length, a Content-Length past 2^64, `chunked` twice,
// obs-fold, bad chunk lines. What it hands over anyway is checked here:
// - HTTP/0.9 and HTTP/2.0 start lines, which it parses as requests;
// - Transfer-Encoding on HTTP/1.0, which it decodes as chunked (§6.1: faulty framing);
// - a Transfer-Encoding whose last coding is not `chunked` (§6.3 ¶4: it notices only
//   once it reaches the body, after the request was handed over) or that names another
//   coding before `chunked` (which ztproxy does not decode);
// - Content-Length values a JS number cannot hold exactly (§6.2: no precision loss);
// - `Content_Length` / `Transfer_Encoding`, which some upstreams read as the real thing;
// - content on GET, HEAD, CONNECT and TRACE, which an upstream may ignore and leave on a
//   shared connection as the next request (RFC 9110 §9.3.1, §9.3.2, §9.3.6, §9.3.8);
// - an upgrade on HTTP/1.0 (RFC 9110 §7.8: a server MUST ignore it; a tunnel opened on it
//   would carry whatever follows to the upstream unparsed).
// The checks are repeated where llhttp already applies them, so that they do not depend
// on a parser flag (`insecureHTTPParser`) or version.
import type { IncomingMessage } from 'node:http';

/** Why a request's framing is refused: a kebab-case reason for the access log. */
export type FramingFault =
  | 'unsupported-http-version'
  | 'transfer-encoding-in-http-1.0'
  | 'content-length-with-transfer-encoding'
  | 'unsupported-transfer-encoding'
  | 'several-content-lengths'
  | 'invalid-content-length'
  | 'content-length-too-large'
  | 'framing-field-with-underscore'
  | 'content-not-allowed-for-method'
  | 'upgrade-in-http-1.0';

/** Methods whose requests have no content. */
function isBodiless(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'CONNECT' || method === 'TRACE';
}

/**
 * The value of a Content-Length that passed llhttp: 1*DIGIT (Node has trimmed the OWS),
 * or -1 when it is not, or -2 when it exceeds what a JS number holds exactly.
 */
function contentLengthValue(value: string): number {
  if (value.length === 0) return -1;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    if (c === 48 && start === i) start = i + 1;
  }
  // Leading zeros are valid (1*DIGIT) and carry no magnitude.
  if (value.length - start > 16) return -2;
  const n = start === value.length ? 0 : Number(start === 0 ? value : value.slice(start));
  return n > Number.MAX_SAFE_INTEGER ? -2 : n;
}

/**
 * The framing fault of a request that Node's parser handed over, or undefined when its
 * framing is unambiguous. `upgrade`: it arrived on the server's 'upgrade' / 'connect' event.
 */
export function framingFault(req: IncomingMessage, upgrade: boolean): FramingFault | undefined {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) return 'unsupported-http-version';
  const http10 = req.httpVersionMinor === 0;
  const raw = req.rawHeaders;
  let contentLengths = 0;
  let contentLength = '';
  let transferEncodings = 0;
  let transferEncoding = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const len = name.length;
    if (len === 14) {
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        contentLengths++;
        contentLength = raw[i + 1]!;
      } else if (lower === 'content_length') return 'framing-field-with-underscore';
    } else if (len === 17) {
      const lower = name.toLowerCase();
      if (lower === 'transfer-encoding') {
        transferEncodings++;
        transferEncoding = raw[i + 1]!;
      } else if (lower === 'transfer_encoding') return 'framing-field-with-underscore';
    }
  }
  if (transferEncodings > 0) {
    // §6.1: faulty even with a Content-Length; an HTTP/1.0 recipient may not know chunked.
    if (http10) return 'transfer-encoding-in-http-1.0';
    // §6.3 ¶3: the classic CL.TE / TE.CL ambiguity.
    if (contentLengths > 0) return 'content-length-with-transfer-encoding';
    // §6.3 ¶4 (chunked not last: no length at all) and §6.1 (a coding ztproxy does not
    // decode): only exactly `chunked` is forwarded. llhttp folds case; so does this.
    if (transferEncodings > 1 || transferEncoding.length !== 7 || transferEncoding.toLowerCase() !== 'chunked') {
      return 'unsupported-transfer-encoding';
    }
    if (isBodiless(req.method ?? '')) return 'content-not-allowed-for-method';
  } else if (contentLengths > 0) {
    if (contentLengths > 1) return 'several-content-lengths';
    const length = contentLengthValue(contentLength);
    if (length === -1) return 'invalid-content-length';
    if (length === -2) return 'content-length-too-large';
    if (length > 0 && isBodiless(req.method ?? '')) return 'content-not-allowed-for-method';
  }
  if (upgrade && http10 && req.method !== 'CONNECT') return 'upgrade-in-http-1.0';
  return undefined;
}
