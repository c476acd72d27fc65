// Message framing on every HTTP version the listener accepts (RFC 9112 §6, issue #4).
//
// One table: each row is a rule of RFC 9112 §6 (Transfer-Encoding §6.1, Content-Length
// §6.2, message body length §6.3, and the chunked coding §7.1 that §6.3 defers to), the
// raw bytes of a request that breaks it (or a valid control that keeps it), and the
// answer for each HTTP version. Every row is sent over a raw TLS socket
//   - to ztproxy, in front of a recording upstream: a faulty framing is answered 400, the
//     connection is closed, and neither the request nor the request pipelined behind it
//     reaches the upstream; a valid control is answered 200 and its body is forwarded
//     exactly, once;
//   - to nginx 1.22 (Debian nginx-light, the reference for what a careful proxy answers),
//     started by this file with the same certificate in front of the same kind of
//     upstream: its answer is asserted too, so the table records where ztproxy is
//     deliberately stricter (`stricter:` says why) — and where it is not.
// The start-line versions (HTTP/0.9, 1.2, 2.0 over the HTTP/1 parser), the upgrade and
// CONNECT paths, pipelining behind a faulty request, the plain-HTTP redirect listener and
// the one response-side MUST of §6.1 follow in their own tables.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNginx, startNginx, type TestNginx } from '../helpers/nginx.ts';
import { openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

// ---------------------------------------------------------------------------------------
// The upstream: records every request (and WebSocket handshake) with its body, whole.

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly version: string;
  readonly headers: IncomingHttpHeaders;
  body: string;
  readonly upgrade: boolean;
}

interface RecordingUpstream {
  readonly port: number;
  readonly url: string;
  readonly seen: Seen[];
  reset(): void;
  close(): Promise<void>;
}

async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const seen: Seen[] = [];
  // Lenient about Host: nginx passes an HTTP/0.9 request on without one.
  const server: Server = createServer({ requireHostHeader: false }, (req, res) => {
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', version: req.httpVersion, headers: req.headers, body: '', upgrade: false };
    seen.push(entry);
    req.setEncoding('latin1');
    req.on('data', (chunk: string) => (entry.body += chunk));
    req.on('end', () => {
      if (req.url === '/chunked-response') {
        // No Content-Length: Node frames this with chunked towards the proxy.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('chunked-');
        res.end('response');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 }).end('ok');
    });
  });
  server.on('upgrade', (req, socket: Socket) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', version: req.httpVersion, headers: req.headers, body: '', upgrade: true });
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.on('error', () => {});
    socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    reset: () => {
      seen.length = 0;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------
// The client: raw bytes over TLS (or plain TCP for the redirect listener).

interface Exchange {
  readonly text: string;
  /** Status codes of every response on the connection (0 first: an HTTP/0.9 answer). */
  readonly statuses: number[];
  /** The server closed the connection (before the timeout). */
  readonly closed: boolean;
}

/** The status of each response in `text`, read one after the other by their framing. */
function statusesOf(text: string): number[] {
  const out: number[] = [];
  let at = 0;
  while (at < text.length) {
    if (!text.startsWith('HTTP/', at)) {
      // What is left is no response: an HTTP/0.9 answer if it is all there is.
      if (at === 0) out.push(0);
      break;
    }
    const end = text.indexOf('\r\n\r\n', at);
    const head = text.slice(at, end < 0 ? text.length : end);
    out.push(Number(/^HTTP\/\d\.\d (\d{3})/.exec(head)?.[1] ?? -1));
    if (end < 0) break;
    at = end + 4;
    const status = out[out.length - 1]!;
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if ((status >= 100 && status < 200) || status === 204 || status === 304) continue;
    if (length) at += Number(length[1]);
    else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const last = text.indexOf('\r\n0\r\n\r\n', at - 2);
      at = last < 0 ? text.length : last + 7;
    } else break;
  }
  return out;
}

/** True once `text` holds one whole response (enough to record an answer). */
function oneResponse(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = text.slice(0, end);
  const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(head)?.[1] ?? 0);
  if (status === 101 || status === 204 || status === 304) return true;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) return text.length - end - 4 >= Number(length[1]);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return text.endsWith('0\r\n\r\n');
  return false;
}

/**
 * Writes `bytes` and reads until the server closes — or, with `untilClose: false`, until
 * one whole response has arrived — or `timeoutMs` passes.
 */
function exchange(port: number, bytes: string, opts: { untilClose: boolean; tls?: boolean; timeoutMs?: number }): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const onConnect = (): void => {
      socket.write(Buffer.from(bytes, 'latin1'));
    };
    const socket =
      opts.tls === false
        ? netConnect({ host: '127.0.0.1', port }, onConnect)
        : tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, onConnect);
    let text = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, statuses: statusesOf(text), closed });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 5000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!opts.untilClose && oneResponse(text)) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err: Error) => {
      if (text !== '') finish(true);
      else {
        done = true;
        clearTimeout(timer);
        reject(err);
      }
    });
  });
}

/** A forward that raced a parser error would land within a few ms on loopback. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));

// ---------------------------------------------------------------------------------------
// The table.

type Version = 'HTTP/1.0' | 'HTTP/1.1';
const VERSIONS: readonly Version[] = ['HTTP/1.0', 'HTTP/1.1'];
/** 400: refused, closed, nothing forwarded. 200: forwarded once, body exact. */
type Ours = 400 | 200;
type PerVersion<T> = T | { readonly [V in Version]: T };

interface Row {
  /** `§6.x`: the RFC 9112 section whose rule the row checks. */
  readonly rule: string;
  readonly name: string;
  readonly method?: string;
  /** Header lines after Host (raw: obs-fold and odd spacing are written as sent). */
  readonly headers: readonly string[];
  readonly body: string;
  readonly ours: PerVersion<Ours>;
  /** nginx 1.22's observed status (0: an answer without a status line). */
  readonly nginx: PerVersion<number>;
  /** For a 200: the body the upstream must receive (default `hello`). */
  readonly forwarded?: string;
  /** Where ztproxy refuses what nginx accepts (or answers 400 where nginx says 501). */
  readonly stricter?: string;
  /** Where nginx refuses what ztproxy forwards. */
  readonly laxer?: string;
}

const HELLO = '5\r\nhello\r\n0\r\n\r\n';
const TE = 'Transfer-Encoding: chunked';
const CL5 = 'Content-Length: 5';
/** HTTP/1.0 first, then HTTP/1.1. */
const v = <T,>(v10: T, v11: T): { readonly [V in Version]: T } => ({ 'HTTP/1.0': v10, 'HTTP/1.1': v11 });
const at = <T,>(value: PerVersion<T>, version: Version): T =>
  typeof value === 'object' && value !== null && version in (value as object) ? (value as { [V in Version]: T })[version] : (value as T);

const UNKNOWN_CODING =
  'ztproxy forwards only `chunked`; RFC 9112 §6.1 says 501 for a coding the server does not understand (nginx), ztproxy answers every framing refusal alike: 400 and close';
const NOT_FINAL = 'RFC 9112 §6.3 ¶4: chunked not final → 400 and close (nginx answers 501)';
const LLHTTP_STRICT = "Node's llhttp (strict) refuses it; nginx is lenient here";

const ROWS: readonly Row[] = [
  // §6.1 Transfer-Encoding: chunked, spelled every way that still means chunked.
  { rule: '§6.1', name: 'Transfer-Encoding: chunked (control)', headers: [TE], body: HELLO, ours: v(400, 200), nginx: v(400, 200) },
  { rule: '§6.1', name: 'Transfer-Encoding: CHUNKED (codings are case-insensitive)', headers: ['Transfer-Encoding: CHUNKED'], body: HELLO, ours: v(400, 200), nginx: v(400, 200) },
  { rule: '§6.1', name: 'Transfer-Encoding:chunked (no space)', headers: ['Transfer-Encoding:chunked'], body: HELLO, ours: v(400, 200), nginx: v(400, 200) },
  { rule: '§6.1', name: 'tRANSFER-eNCODING: chunked (field names are case-insensitive)', headers: ['tRANSFER-eNCODING: chunked'], body: HELLO, ours: v(400, 200), nginx: v(400, 200) },
  { rule: '§6.1', name: 'Transfer-Encoding with spaces around chunked (OWS)', headers: ['Transfer-Encoding:   chunked  '], body: HELLO, ours: v(400, 200), nginx: v(400, 200) },
  // §6.1: HTTP/1.0 + Transfer-Encoding is faulty even with a Content-Length (the 1.1
  // column of the TE+CL rows is §6.3 ¶3).
  { rule: '§6.1', name: 'Transfer-Encoding: chunked and Content-Length', headers: [TE, CL5], body: HELLO, ours: 400, nginx: 400 },
  { rule: '§6.1', name: 'Content-Length and Transfer-Encoding: chunked', headers: [CL5, TE], body: HELLO, ours: 400, nginx: 400 },
  // §6.1 / §6.3 ¶4: a coding other than chunked, or chunked not last.
  { rule: '§6.3', name: 'Transfer-Encoding: identity', headers: ['Transfer-Encoding: identity'], body: 'hello', ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.3', name: 'Transfer-Encoding: gzip', headers: ['Transfer-Encoding: gzip'], body: 'hello', ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.3', name: 'Transfer-Encoding: chunk', headers: ['Transfer-Encoding: chunk'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.3', name: 'Transfer-Encoding: x-chunked', headers: ['Transfer-Encoding: x-chunked'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.3', name: 'Transfer-Encoding: chunked;q=1 (a parameter)', headers: ['Transfer-Encoding: chunked;q=1'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.3', name: 'Transfer-Encoding: "chunked" (quoted)', headers: ['Transfer-Encoding: "chunked"'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.3', name: 'Transfer-Encoding: chunked + a trailing tab', headers: ['Transfer-Encoding: chunked\t'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.3', name: 'Transfer-Encoding: chunked + a byte 0xFF', headers: ['Transfer-Encoding: chunked\xff'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.3', name: 'Transfer-Encoding: chunked, identity (chunked not last)', headers: ['Transfer-Encoding: chunked, identity'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.1', name: 'Transfer-Encoding: gzip, chunked (a coding ztproxy does not decode)', headers: ['Transfer-Encoding: gzip, chunked'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { rule: '§6.1', name: 'Transfer-Encoding: identity, chunked', headers: ['Transfer-Encoding: identity, chunked'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { rule: '§6.1', name: 'Transfer-Encoding: foo, chunked (unknown coding)', headers: ['Transfer-Encoding: foo, chunked'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { rule: '§6.1', name: 'Transfer-Encoding: ,chunked (an empty list element)', headers: ['Transfer-Encoding: ,chunked'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { rule: '§6.1', name: 'Transfer-Encoding: chunked, (an empty list element)', headers: ['Transfer-Encoding: chunked,'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { rule: '§6.1', name: 'Transfer-Encoding: chunked, chunked (chunked twice, a sender MUST NOT)', headers: ['Transfer-Encoding: chunked, chunked'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { rule: '§6.1', name: 'two Transfer-Encoding: chunked fields', headers: [TE, TE], body: HELLO, ours: 400, nginx: 400 },
  { rule: '§6.1', name: 'an empty Transfer-Encoding', headers: ['Transfer-Encoding:'], body: 'hello', ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { rule: '§6.3', name: 'Transfer-Encoding: chunked; (an empty parameter)', headers: ['Transfer-Encoding: chunked;'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: NOT_FINAL },
  { rule: '§6.1', name: 'Transfer-Encoding: <NBSP>chunked', headers: ['Transfer-Encoding: \xa0chunked'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { rule: '§6.1', name: 'an empty Transfer-Encoding field, then Transfer-Encoding: chunked', headers: ['Transfer-Encoding:', TE], body: HELLO, ours: 400, nginx: 400 },
  { rule: '§6.1', name: 'Transfer-Encoding: <VT>chunked', headers: ['Transfer-Encoding: \x0bchunked'], body: HELLO, ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { rule: '§6.1', name: 'Transfer-Encoding: chunked<NUL>', headers: ['Transfer-Encoding: chunked\x00'], body: HELLO, ours: 400, nginx: 400 },
  // Transfer-Encoding hidden from one parser and seen by another (RFC 9112 §5.1, §5.2).
  { rule: '§6.1', name: 'Transfer-Encoding value in an obs-fold line', headers: ['Transfer-Encoding:', ' chunked'], body: HELLO, ours: 400, nginx: 400 },
  { rule: '§6.1', name: 'Transfer-Encoding folded into the previous field, with a Content-Length', headers: ['X-Padding: a', ' Transfer-Encoding: chunked', CL5], body: HELLO, ours: 400, nginx: 400 },
  { rule: '§6.1', name: 'space before the colon of Transfer-Encoding, with a Content-Length', headers: ['Transfer-Encoding : chunked', CL5], body: HELLO, ours: 400, nginx: 400 },
  { rule: '§6.1', name: 'tab before the colon of Transfer-Encoding', headers: ['Transfer-Encoding\t: chunked'], body: HELLO, ours: 400, nginx: 400 },
  {
    rule: '§6.1',
    name: 'Transfer_Encoding: chunked (underscore) with a Content-Length',
    headers: ['Transfer_Encoding: chunked', CL5],
    body: 'hello',
    ours: 400,
    nginx: 200,
    stricter: 'an upstream that reads `_` as `-` (CGI/WSGI/Rack mappings) sees Transfer-Encoding where ztproxy framed by Content-Length; nginx drops the field (ignore_invalid_headers)',
  },

  // §6.2 Content-Length.
  { rule: '§6.2', name: 'Content-Length: 5 (control)', headers: [CL5], body: 'hello', ours: 200, nginx: 200 },
  { rule: '§6.2', name: 'Content-Length with spaces around the value (OWS)', headers: ['Content-Length:   5  '], body: 'hello', ours: 200, nginx: 200 },
  {
    rule: '§6.2',
    name: 'Content-Length with a tab before the value (OWS)',
    headers: ['Content-Length:\t5'],
    body: 'hello',
    ours: 200,
    nginx: 400,
    laxer: 'OWS is SP or HTAB (RFC 9110 §5.6.3): the value is 5 to every parser that reads the RFC; nginx skips only spaces',
  },
  { rule: '§6.2', name: 'Content-Length: 05 (1*DIGIT allows leading zeros)', headers: ['Content-Length: 05'], body: 'hello', ours: 200, nginx: 200 },
  { rule: '§6.2', name: 'Content-Length: 0…05 (30 digits, value 5)', headers: [`Content-Length: ${'0'.repeat(29)}5`], body: 'hello', ours: 200, nginx: 200 },
  { rule: '§6.2', name: 'Content-Length: 5, 5 (a list of one value)', headers: ['Content-Length: 5, 5'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: 5,6 (a list)', headers: ['Content-Length: 5,6'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'two equal Content-Length fields', headers: [CL5, CL5], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'two different Content-Length fields', headers: [CL5, 'Content-Length: 6'], body: 'hello!', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: +5', headers: ['Content-Length: +5'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: -1', headers: ['Content-Length: -1'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: 0x5', headers: ['Content-Length: 0x5'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: 5.0', headers: ['Content-Length: 5.0'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: 1e3', headers: ['Content-Length: 1e3'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: 5 x (trailing garbage)', headers: ['Content-Length: 5 x'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: 5<0xFF>', headers: ['Content-Length: 5\xff'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'an empty Content-Length', headers: ['Content-Length:'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length in an obs-fold line', headers: ['Content-Length:', ' 5'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: 2^64 (overflows 64 bits)', headers: ['Content-Length: 18446744073709551616'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: 10^23', headers: ['Content-Length: 99999999999999999999999'], body: 'hello', ours: 400, nginx: 400 },
  { rule: '§6.2', name: 'Content-Length: 2^64-1 (fits 64 bits, not 63)', headers: ['Content-Length: 18446744073709551615'], body: 'hello', ours: 400, nginx: 400 },
  {
    rule: '§6.2',
    name: 'Content-Length: 2^53+1 (loses precision as a JS number)',
    headers: ['Content-Length: 9007199254740993'],
    body: 'hello',
    ours: 400,
    nginx: 413,
    stricter: 'RFC 9112 §6.2: MUST prevent precision loss; a length a JS number cannot hold exactly is refused as unparseable (nginx reads 63 bits and answers 413 from client_max_body_size)',
  },
  {
    rule: '§6.2',
    name: 'Content_Length: 5 (underscore)',
    headers: ['Content_Length: 5'],
    body: 'hello',
    ours: 400,
    nginx: 200,
    stricter: 'an upstream that reads `_` as `-` would frame the request by a length ztproxy never saw; nginx drops the field (ignore_invalid_headers) and reads `hello` as the next request',
  },
  // A body on a method whose semantics have none (RFC 9110 §9.3.1, §9.3.2: "might lead some
  // implementations to reject the request … request smuggling"): an upstream that ignores
  // it leaves the bytes on a pooled connection as the next request (CL.0 desync).
  { rule: '§6.2', name: 'GET with Content-Length: 0 (control)', method: 'GET', headers: ['Content-Length: 0'], body: '', ours: 200, nginx: 200, forwarded: '' },
  { rule: '§6.2', name: 'GET with a body', method: 'GET', headers: [CL5], body: 'hello', ours: 400, nginx: 200, stricter: 'CL.0 desync: a GET body an upstream ignores becomes the next request on a shared connection' },
  { rule: '§6.2', name: 'HEAD with a body', method: 'HEAD', headers: [CL5], body: 'hello', ours: 400, nginx: 200, stricter: 'as GET' },
  { rule: '§6.2', name: 'GET with Transfer-Encoding: chunked', method: 'GET', headers: [TE], body: HELLO, ours: 400, nginx: v(400, 200), stricter: 'as GET' },
  { rule: '§6.2', name: 'GET with an empty chunked body', method: 'GET', headers: [TE], body: '0\r\n\r\n', ours: 400, nginx: v(400, 200), stricter: 'as GET' },
  { rule: '§6.2', name: 'DELETE with a body (allowed: Kubernetes DeleteOptions)', method: 'DELETE', headers: [CL5], body: 'hello', ours: 200, nginx: 200 },
  { rule: '§6.2', name: 'OPTIONS with a body', method: 'OPTIONS', headers: [CL5, 'Content-Type: text/plain'], body: 'hello', ours: 200, nginx: 200 },

  // §6.3 ¶6: a request with neither is length 0; what follows is the next request (1.1) or
  // nothing at all (1.0, which closes): never this request's body.
  { rule: '§6.3', name: 'POST with neither Content-Length nor Transfer-Encoding', headers: [], body: '', ours: 200, nginx: 200, forwarded: '' },

  // §7.1 chunked (which §6.3 ¶4 makes the framing): on HTTP/1.0 every row is §6.1 again.
  { rule: '§7.1', name: 'chunk extension', headers: [TE], body: '5;a=b\r\nhello\r\n0\r\n\r\n', ours: v(400, 200), nginx: v(400, 200) },
  { rule: '§7.1', name: 'chunk extension with a quoted value', headers: [TE], body: '5;a="b\\"c"\r\nhello\r\n0\r\n\r\n', ours: v(400, 200), nginx: v(400, 200) },
  { rule: '§7.1', name: 'chunk size with leading zeros', headers: [TE], body: '0000000000000005\r\nhello\r\n0\r\n\r\n', ours: v(400, 200), nginx: v(400, 200) },
  { rule: '§7.1', name: 'chunk size overflowing 64 bits', headers: [TE], body: 'FFFFFFFFFFFFFFFFF5\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: 400 },
  { rule: '§7.1', name: 'chunk size with a leading space', headers: [TE], body: ' 5\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: 400 },
  { rule: '§7.1', name: 'chunk size -5', headers: [TE], body: '-5\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: 400 },
  { rule: '§7.1', name: 'chunk size 0x5', headers: [TE], body: '0x5\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: 400 },
  { rule: '§7.1', name: 'chunk size 5_', headers: [TE], body: '5_\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: 400 },
  { rule: '§7.1', name: 'an empty chunk-size line', headers: [TE], body: '\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: 400 },
  { rule: '§7.1', name: 'chunk data longer than its size', headers: [TE], body: '3\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: 400 },
  { rule: '§7.1', name: 'no CRLF after chunk data', headers: [TE], body: '5\r\nhelloX0\r\n\r\n', ours: 400, nginx: 400 },
  { rule: '§7.1', name: 'a CR inside a quoted chunk extension', headers: [TE], body: '5;a="\r\n"\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: 400 },
  { rule: '§7.1', name: 'bare LF after the chunk size', headers: [TE], body: '5\nhello\r\n0\r\n\r\n', ours: 400, nginx: v(400, 200), stricter: LLHTTP_STRICT },
  { rule: '§7.1', name: 'bare LF after a chunk extension', headers: [TE], body: '5;a\nhello\r\n0\r\n\r\n', ours: 400, nginx: v(400, 200), stricter: LLHTTP_STRICT },
  { rule: '§7.1', name: 'bare LF after chunk data', headers: [TE], body: '5\r\nhello\n0\r\n\r\n', ours: 400, nginx: v(400, 200), stricter: LLHTTP_STRICT },
  { rule: '§7.1', name: 'bare LF after the last chunk', headers: [TE], body: '5\r\nhello\r\n0\n\n', ours: 400, nginx: v(400, 200), stricter: LLHTTP_STRICT },
  { rule: '§7.1', name: 'bare LF ending a trailer field', headers: [TE], body: '5\r\nhello\r\n0\r\nX: y\n\r\n', ours: 400, nginx: v(400, 200), stricter: LLHTTP_STRICT },
  { rule: '§7.1', name: 'a space between chunk size and CRLF', headers: [TE], body: '5 \r\nhello\r\n0\r\n\r\n', ours: 400, nginx: v(400, 200), stricter: LLHTTP_STRICT },
  { rule: '§7.1', name: 'a space before a chunk extension (BWS)', headers: [TE], body: '5 ;a=b\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: v(400, 200), stricter: LLHTTP_STRICT },
  { rule: '§7.1', name: 'an empty chunk extension (`5;`)', headers: [TE], body: '5;\r\nhello\r\n0\r\n\r\n', ours: 400, nginx: v(400, 200), stricter: LLHTTP_STRICT },
  {
    rule: '§7.1',
    name: 'chunk extensions of 20 000 bytes',
    headers: [TE],
    body: `5;${'a'.repeat(20_000)}\r\nhello\r\n0\r\n\r\n`,
    ours: 400,
    nginx: v(400, 200),
    stricter: 'RFC 9112 §7.1.1: a server ought to limit chunk extensions (Node: 16 KiB, CVE-2024-22019)',
  },
  {
    rule: '§7.1',
    name: 'Content-Length and Transfer-Encoding in the trailer section',
    headers: [TE],
    body: '5\r\nhello\r\n0\r\nContent-Length: 100\r\nTransfer-Encoding: gzip\r\n\r\n',
    ours: 400,
    nginx: v(400, 200),
    stricter: 'RFC 9110 §6.5.1: framing fields cannot be trailers; llhttp refuses them',
  },
];

interface Case {
  readonly title: string;
  readonly version: Version;
  readonly bytes: string;
  readonly ours: Ours;
  readonly nginx: number;
  readonly forwarded: string;
  readonly method: string;
}

/** A request behind the faulty one: it must never be processed either (RFC 9112 §9.6). */
const PIPELINED = 'GET /pipelined HTTP/1.1\r\nHost: app.test\r\n\r\n';

const CASES: readonly Case[] = ROWS.flatMap((row) =>
  VERSIONS.map((version): Case => {
    const method = row.method ?? 'POST';
    const head = [`${method} /framing ${version}`, 'Host: app.test', ...row.headers].join('\r\n');
    const ours = at(row.ours, version);
    return {
      title: `${row.rule} ${version} ${row.name}`,
      version,
      // Never `Connection: close`: ztproxy must close a faulty connection by itself.
      bytes: `${head}\r\n\r\n${row.body}${ours === 400 ? PIPELINED : ''}`,
      ours,
      nginx: at(row.nginx, version),
      forwarded: row.forwarded ?? 'hello',
      method,
    };
  }),
);

// Start lines: ztproxy takes HTTP/1.0 and HTTP/1.1, nothing else. llhttp parses
// HTTP/0.9 (with or without the version) and HTTP/2.0 as requests of their own.
interface StartLineRow {
  readonly name: string;
  readonly bytes: string;
  readonly nginx: number;
  readonly stricter?: string;
}

const START_LINES: readonly StartLineRow[] = [
  { name: 'GET /framing HTTP/0.9', bytes: 'GET /framing HTTP/0.9\r\nHost: app.test\r\n\r\n', nginx: 400 },
  {
    name: 'an HTTP/0.9 simple request (no version)',
    bytes: 'GET /framing\r\nHost: app.test\r\n\r\n',
    nginx: 0,
    stricter: 'HTTP/0.9 has no headers and no framing at all (nginx still answers it, without a status line)',
  },
  { name: 'POST with Transfer-Encoding, HTTP/0.9', bytes: `POST /framing HTTP/0.9\r\nHost: app.test\r\n${TE}\r\n\r\n${HELLO}`, nginx: 400 },
  { name: 'GET /framing HTTP/2.0 (HTTP/2 over the HTTP/1 parser)', bytes: 'GET /framing HTTP/2.0\r\nHost: app.test\r\n\r\n', nginx: 505 },
  { name: 'POST with Content-Length, HTTP/2.0', bytes: `POST /framing HTTP/2.0\r\nHost: app.test\r\n${CL5}\r\n\r\nhello`, nginx: 505 },
  { name: 'GET /framing HTTP/3.0', bytes: 'GET /framing HTTP/3.0\r\nHost: app.test\r\n\r\n', nginx: 505 },
  {
    name: 'GET /framing HTTP/1.2',
    bytes: 'GET /framing HTTP/1.2\r\nHost: app.test\r\n\r\n',
    nginx: 200,
    stricter: 'RFC 9112 §2.3 lets a 1.1 server serve 1.2 as 1.1; no client sends it, llhttp refuses it',
  },
  { name: 'GET /framing HTTP/1.01', bytes: 'GET /framing HTTP/1.01\r\nHost: app.test\r\n\r\n', nginx: 200, stricter: 'HTTP-version is DIGIT "." DIGIT (RFC 9112 §2.3)' },
  { name: 'GET /framing HTTP/01.1', bytes: 'GET /framing HTTP/01.1\r\nHost: app.test\r\n\r\n', nginx: 400 },
  { name: 'GET /framing http/1.1 (the name is case-sensitive)', bytes: 'GET /framing http/1.1\r\nHost: app.test\r\n\r\n', nginx: 400 },
  { name: 'a space after the version', bytes: 'GET /framing HTTP/1.1 \r\nHost: app.test\r\n\r\n', nginx: 200, stricter: 'RFC 9112 §3: request-line = method SP request-target SP HTTP-version' },
  { name: 'a bare LF ending the request line', bytes: `POST /framing HTTP/1.1\nHost: app.test\r\n${CL5}\r\n\r\nhello`, nginx: 200, stricter: LLHTTP_STRICT },
  {
    name: 'whitespace before the first field line (RFC 9112 §2.2)',
    bytes: `POST /framing HTTP/1.1\r\n ${TE}\r\nHost: app.test\r\n${CL5}\r\n\r\nhello`,
    nginx: 400,
  },
];

// ---------------------------------------------------------------------------------------

const stack = useProxyStack(
  ({ upstream }) => ({
    listen: { redirectHttp: { address: '127.0.0.1:0' } },
    routes: [
      openRoute(upstream.url, { name: 'app', match: { host: 'app.test' }, websocket: true }),
      // Used once, by the late-parser-error test: its first request signs a fresh assertion.
      openRoute(upstream.url, { name: 'late', match: { host: 'late.test' } }),
    ],
  }),
  { upstream: startRecordingUpstream },
);

/** A refusal: one 400 with ztproxy's JSON body, the connection closed, nothing upstream. */
async function expectRefused(port: number, bytes: string, opts: { tls?: boolean } = {}): Promise<void> {
  const res = await exchange(port, bytes, { untilClose: true, ...opts });
  expect(res.statuses).toEqual([400]);
  // The answer to HEAD has no content (RFC 9110 §9.3.2).
  if (bytes.startsWith('HEAD ')) expect(res.text).toMatch(/\r\n\r\n$/);
  else expect(res.text).toMatch(/\r\n\r\n\{"error":"bad request","requestId":"[0-9a-f-]{36}"\}$/);
  expect(res.closed).toBe(true);
  await settle();
  expect(stack.upstream.seen).toEqual([]);
}

describe('ztproxy: RFC 9112 §6 framing rules × HTTP/1.0 and HTTP/1.1', () => {
  for (const c of CASES) {
    it(`${c.title} → ${c.ours}`, async () => {
      if (c.ours === 400) {
        await expectRefused(stack.proxy.port, c.bytes);
        return;
      }
      const res = await exchange(stack.proxy.port, c.bytes, { untilClose: false });
      expect(res.statuses).toEqual([200]);
      expect(stack.upstream.seen).toHaveLength(1);
      const seen = stack.upstream.seen[0]!;
      expect([seen.method, seen.url, seen.upgrade]).toEqual([c.method, '/framing', false]);
      expect(seen.body).toBe(c.forwarded);
    });
  }

  for (const row of START_LINES) {
    it(`start line: ${row.name} → 400`, async () => {
      await expectRefused(stack.proxy.port, row.bytes);
    });
  }
});

// WebSocket upgrades and CONNECT arrive on the server's 'upgrade' / 'connect' events, not
// as requests: the same rules hold there (a tunnel opened by a mis-framed handshake would
// carry the "body" to the upstream as raw bytes, past every check).
const WS = ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];

interface TunnelRow {
  readonly name: string;
  readonly bytes: (version: Version) => string;
  readonly ours: PerVersion<400 | 404 | 101>;
  readonly nginx: PerVersion<number>;
  readonly stricter?: string;
  readonly laxer?: string;
}

const upgrade = (version: Version, extra: readonly string[], body = ''): string =>
  [`GET /framing ${version}`, 'Host: app.test', ...WS, ...extra].join('\r\n') + `\r\n\r\n${body}`;
const connectTo = (version: Version, extra: readonly string[], body = ''): string =>
  [`CONNECT app.test:443 ${version}`, 'Host: app.test:443', ...extra].join('\r\n') + `\r\n\r\n${body}`;

const TUNNELS: readonly TunnelRow[] = [
  {
    name: 'WebSocket handshake (control)',
    bytes: (ver) => upgrade(ver, []),
    ours: v(400, 101),
    nginx: 101,
    stricter: 'RFC 6455 §4.1 needs HTTP/1.1 and RFC 9110 §7.8 says a server MUST ignore Upgrade in HTTP/1.0: ztproxy refuses rather than half-honour it',
  },
  { name: 'WebSocket handshake with Transfer-Encoding: chunked', bytes: (ver) => upgrade(ver, [TE], '0\r\n\r\n'), ours: 400, nginx: v(400, 101), stricter: 'a handshake is a GET: no body' },
  { name: 'WebSocket handshake with Transfer-Encoding: gzip', bytes: (ver) => upgrade(ver, ['Transfer-Encoding: gzip']), ours: 400, nginx: v(400, 501), stricter: UNKNOWN_CODING },
  { name: 'WebSocket handshake with a Content-Length body', bytes: (ver) => upgrade(ver, [CL5], 'hello'), ours: 400, nginx: 101, stricter: 'a handshake is a GET: no body' },
  { name: 'WebSocket handshake with Transfer-Encoding and Content-Length', bytes: (ver) => upgrade(ver, [TE, CL5], '0\r\n\r\n'), ours: 400, nginx: 400 },
  { name: 'WebSocket handshake with Content-Length: 5,6', bytes: (ver) => upgrade(ver, ['Content-Length: 5,6']), ours: 400, nginx: 400 },
  { name: 'WebSocket handshake over HTTP/2.0 syntax', bytes: () => upgrade('HTTP/2.0' as Version, []), ours: 400, nginx: 505 },
  {
    name: 'CONNECT (control: no TCP route names the target)',
    bytes: (ver) => connectTo(ver, []),
    ours: 404,
    nginx: 400,
    laxer: 'not laxer: ztproxy routes a well-formed CONNECT by its target to TCP routes (issue #6), and a target no route names is refused 404 (nginx has no CONNECT at all)',
  },
  { name: 'CONNECT with Transfer-Encoding: chunked', bytes: (ver) => connectTo(ver, [TE], HELLO), ours: 400, nginx: 400 },
  { name: 'CONNECT with Content-Length', bytes: (ver) => connectTo(ver, [CL5], 'hello'), ours: 400, nginx: 400 },
];

const TUNNEL_CASES = TUNNELS.flatMap((row) =>
  VERSIONS.map((version) => ({ title: `${version} ${row.name}`, bytes: row.bytes(version), ours: at(row.ours, version), nginx: at(row.nginx, version) })),
);

// The tables are honest about nginx: every row where ztproxy refuses what nginx accepts,
// or refuses with 400 where nginx says something other than 400 / 505 (a 501, a 413), says
// why in `stricter`; every row where nginx refuses what ztproxy forwards says why in
// `laxer`; neither is set without cause.
describe('the tables mark every difference from nginx', () => {
  const sameRefusal = (nginx: number): boolean => nginx === 400 || nginx === 505;
  const rows: { name: string; pairs: (readonly [number, number])[]; stricter?: string; laxer?: string }[] = [
    ...ROWS.map((row) => ({ ...row, pairs: VERSIONS.map((ver) => [at(row.ours, ver), at(row.nginx, ver)] as const) })),
    ...START_LINES.map((row) => ({ ...row, name: `start line: ${row.name}`, pairs: [[400, row.nginx] as const] })),
    ...TUNNELS.map((row) => ({ ...row, pairs: VERSIONS.map((ver) => [at(row.ours, ver), at(row.nginx, ver)] as const) })),
  ];
  for (const row of rows) {
    it(row.name, () => {
      expect(row.stricter !== undefined).toBe(row.pairs.some(([ours, nginx]) => ours === 400 && !sameRefusal(nginx)));
      expect(row.laxer !== undefined).toBe(row.pairs.some(([ours, nginx]) => ours !== 400 && ours !== nginx));
    });
  }
});

describe('ztproxy: the upgrade and CONNECT paths', () => {
  for (const c of TUNNEL_CASES) {
    it(`${c.title} → ${c.ours}`, async () => {
      if (c.ours === 400) {
        await expectRefused(stack.proxy.port, c.bytes + PIPELINED);
        return;
      }
      if (c.ours === 404) {
        const res = await exchange(stack.proxy.port, c.bytes + PIPELINED, { untilClose: true });
        expect(res.statuses).toEqual([404]);
        expect(res.closed).toBe(true);
        await settle();
        expect(stack.upstream.seen).toEqual([]);
        return;
      }
      const res = await exchange(stack.proxy.port, c.bytes, { untilClose: false });
      expect(res.statuses).toEqual([101]);
      expect(stack.upstream.seen.map((s) => [s.method, s.url, s.upgrade])).toEqual([['GET', '/framing', true]]);
    });
  }
});

// RFC 9112 §9.6 / §6.3: after a faulty message the server closes; nothing Node already
// parsed behind it — a request, a WebSocket handshake, a CONNECT — may be processed.
const FAULTY = [
  ['HTTP/1.0 with Transfer-Encoding (reaches the handler)', `POST /framing HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive\r\n${TE}\r\n\r\n${HELLO}`],
  ['a GET with a body (reaches the handler)', `GET /framing HTTP/1.1\r\nHost: app.test\r\n${CL5}\r\n\r\nhello`],
  ['Content-Length: 5,6 (refused by the parser)', 'POST /framing HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5,6\r\n\r\nhello'],
  ['an encoded slash (refused by the sanitize stage, not for its framing)', 'GET /a%2Fb HTTP/1.1\r\nHost: app.test\r\n\r\n'],
] as const;
const BEHIND = [
  ['a request', PIPELINED],
  ['a WebSocket handshake', upgrade('HTTP/1.1', [])],
  ['a CONNECT', connectTo('HTTP/1.1', [])],
] as const;

describe('ztproxy: nothing pipelined behind a faulty request is processed', () => {
  for (const [faulty, bytes] of FAULTY) {
    for (const [behind, next] of BEHIND) {
      it(`${faulty}, then ${behind}`, async () => {
        await expectRefused(stack.proxy.port, bytes + next);
      });
    }
  }

  // RFC 9112 §6.3 ¶6 and §9.3: an HTTP/1.0 request without Content-Length has no body,
  // and without keep-alive nothing follows it on the connection — least of all a request.
  it('HTTP/1.0 POST without Content-Length, then bytes that look like a request: only the POST is forwarded, with no body', async () => {
    const res = await exchange(stack.proxy.port, `POST /framing HTTP/1.0\r\nHost: app.test\r\n\r\n${PIPELINED}`, { untilClose: true });
    expect(res.statuses).toEqual([200]);
    expect(res.closed).toBe(true);
    await settle();
    expect(stack.upstream.seen.map((s) => [s.method, s.url, s.body])).toEqual([['POST', '/framing', '']]);
  });

  it('a valid request first: it is answered, the faulty one behind it is refused, nothing after that is processed', async () => {
    const bytes = `POST /framing HTTP/1.1\r\nHost: app.test\r\n${CL5}\r\n\r\nhello` + `POST /framing HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: identity\r\n\r\nhello` + upgrade('HTTP/1.1', []);
    const res = await exchange(stack.proxy.port, bytes, { untilClose: true });
    expect(res.statuses).toEqual([200, 400]);
    expect(res.closed).toBe(true);
    await settle();
    expect(stack.upstream.seen.map((s) => [s.method, s.body, s.upgrade])).toEqual([['POST', 'hello', false]]);
  });
});

// `Transfer-Encoding: chunked<TAB>`: Node trims the tab from the value every stage sees,
// so the request looks chunked; llhttp, which read the tab, refuses the body — after the
// request was handed over. On a route's first request the chain awaits the signing of a
// fresh identity assertion, so the parser's refusal lands while the chain still runs: the
// forward must not start on a request that is already refused (nor wait for its body).
describe('ztproxy: a framing error the parser reports after the chain started', () => {
  it('is answered 400, never forwarded, and the request ends (one access-log line)', async () => {
    const lines = (): number => stack.proxy.logs.filter((l) => l.msg === 'request' && l['host'] === 'late.test').length;
    await expectRefused(stack.proxy.port, `POST /framing HTTP/1.1\r\nHost: late.test\r\nTransfer-Encoding: chunked\t\r\n\r\n${HELLO}`);
    const end = Date.now() + 3000;
    while (lines() === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(lines()).toBe(1);
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('ztproxy: the access log tells a refused body from a client that left', () => {
  // The head alone first: the chain runs and the forward waits for the body (undici
  // writes nothing upstream before the first body byte); then a chunk llhttp refuses. The
  // upstream request is aborted unwritten, the client gets its 400, and the access-log
  // line says why instead of "client-closed".
  it('a chunked head, then a bad chunk size: 400, nothing upstream, logged as refused', async () => {
    const before = stack.proxy.logs.length;
    const socket = tlsConnect({ host: '127.0.0.1', port: stack.proxy.port, rejectUnauthorized: false, servername: 'localhost' });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write(`POST /framing HTTP/1.1\r\nHost: app.test\r\n${TE}\r\n\r\n`);
    await settle();
    socket.write(' 5\r\nhello\r\n0\r\n\r\n');
    await closed;
    expect(statusesOf(text)).toEqual([400]);
    await settle();
    expect(stack.upstream.seen).toEqual([]);
    const line = stack.proxy.logs.slice(before).find((l) => l.msg === 'request' && l['host'] === 'app.test');
    expect([line?.['status'], line?.['reason']]).toEqual([400, 'request-refused-by-parser']);
  });
});

describe('ztproxy: the plain-HTTP redirect listener applies the same rules', () => {
  const redirectPort = (): number => stack.proxy.proxy.addresses.redirect!.port;

  it.each([
    ['HTTP/1.0 with Transfer-Encoding', `POST /framing HTTP/1.0\r\nHost: app.test\r\n${TE}\r\n\r\n${HELLO}`],
    ['a GET with a body', `GET /framing HTTP/1.1\r\nHost: app.test\r\n${CL5}\r\n\r\nhello`],
    ['Transfer-Encoding: identity', `POST /framing HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: identity\r\n\r\nhello`],
    ['Content_Length', `POST /framing HTTP/1.1\r\nHost: app.test\r\nContent_Length: 5\r\n\r\nhello`],
    ['HTTP/2.0 syntax', 'GET /framing HTTP/2.0\r\nHost: app.test\r\n\r\n'],
    ['Content-Length: 5,6', `POST /framing HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5,6\r\n\r\nhello`],
  ])('%s → 400, closed', async (_name, bytes) => {
    const res = await exchange(redirectPort(), bytes + PIPELINED, { untilClose: true, tls: false });
    expect(res.statuses).toEqual([400]);
    expect(res.closed).toBe(true);
  });

  it('a valid request is redirected (control)', async () => {
    const res = await exchange(redirectPort(), `GET /framing HTTP/1.1\r\nHost: app.test\r\n\r\n`, { untilClose: false, tls: false });
    expect(res.statuses).toEqual([301]);
  });
});

// RFC 9112 §6.1: "A server MUST NOT send a response containing Transfer-Encoding unless
// the corresponding request indicates HTTP/1.1 (or later minor revisions)". Node would
// chunk the answer to an HTTP/1.0 request that asks for it with `TE: chunked`; an
// HTTP/1.0 hop in front would then hand the chunk-size lines to its client as content.
describe('ztproxy: responses to HTTP/1.0 are never chunked', () => {
  it.each([
    ['HTTP/1.0', 'GET /chunked-response HTTP/1.0\r\nHost: app.test\r\n\r\n'],
    ['HTTP/1.0 asking for chunked with TE', 'GET /chunked-response HTTP/1.0\r\nHost: app.test\r\nTE: chunked\r\nConnection: TE\r\n\r\n'],
  ])('%s: the body is delimited by the close, without Transfer-Encoding', async (_name, bytes) => {
    const res = await exchange(stack.proxy.port, bytes, { untilClose: true });
    expect(res.statuses).toEqual([200]);
    expect(res.closed).toBe(true);
    const end = res.text.indexOf('\r\n\r\n');
    expect(res.text.slice(0, end)).not.toMatch(/\r\ntransfer-encoding:/i);
    expect(res.text.slice(end + 4)).toBe('chunked-response');
  });

  it('HTTP/1.1 (control): chunked', async () => {
    const res = await exchange(stack.proxy.port, 'GET /chunked-response HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', { untilClose: true });
    expect(res.statuses).toEqual([200]);
    expect(res.text).toMatch(/\r\ntransfer-encoding: chunked\r\n/i);
  });
});

// ---------------------------------------------------------------------------------------
// The reference: nginx 1.22 with the same certificate, in front of the same kind of
// upstream. Its answers are what the table says; a row whose `stricter` is set is one
// where ztproxy refuses what nginx lets through (or says 400 where nginx says 501).

describe('nginx 1.22 (the reference) answers what the table says', () => {
  let nginx: TestNginx;
  let nginxUpstream: RecordingUpstream;

  beforeAll(async () => {
    const bin = findNginx();
    if (!bin) throw new Error('nginx not found on PATH or at /usr/sbin/nginx: install it (`apt-get install -y nginx-light`, as .ci/run does)');
    nginxUpstream = await startRecordingUpstream();
    nginx = await startNginx(bin, { upstreamPort: nginxUpstream.port, cert: stack.pki.server.certPath, key: stack.pki.server.keyPath });
  });

  afterAll(async () => {
    await nginx?.close();
    await nginxUpstream?.close();
  });

  it('is nginx 1.22', () => {
    expect(nginx.version).toMatch(/nginx\/1\.22\./);
  });

  const rows = [
    ...CASES,
    ...START_LINES.map((row) => ({ title: `start line: ${row.name}`, bytes: row.bytes, nginx: row.nginx })),
    ...TUNNEL_CASES,
  ];
  for (const c of rows) {
    it(`${c.title} → nginx ${c.nginx}`, async () => {
      const res = await exchange(nginx.port, c.bytes, { untilClose: false, timeoutMs: 3000 });
      expect(res.statuses[0] ?? -1).toBe(c.nginx);
    });
  }
});
