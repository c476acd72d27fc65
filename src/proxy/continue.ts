// `Expect: 100-continue` (RFC 9110 §10.1.1): the client waits for `100 Continue` before it
// sends its body. Node's default sends the 100 as soon as the headers are parsed — before
// routing, authentication, policy or the body-size check — so a client about to upload
// 100 MB to a route it may not use, or past the route's limit, was invited to send it all.
// Here the 100 goes out only from the forward step, after every stage said yes and the
// declared length fit; a refusal is the final answer instead (no 100 before it), and the
// connection is closed after it since the client may send the body anyway.
import type { ServerResponse } from 'node:http';

const kExpectsContinue = Symbol('ztproxy.expectsContinue');

type Marked = ServerResponse & { [kExpectsContinue]?: boolean };

/** The request of `res` asked for `100 Continue` (Node's 'checkContinue' event). */
export function markExpectsContinue(res: ServerResponse): void {
  (res as Marked)[kExpectsContinue] = true;
}

/** Sends `100 Continue` if the request asked for it and nothing was sent yet. */
export function sendContinueIfExpected(res: ServerResponse): void {
  const marked = res as Marked;
  if (marked[kExpectsContinue] !== true) return;
  marked[kExpectsContinue] = false;
  if (!res.headersSent && !res.destroyed) res.writeContinue();
}
