// The HTTP exchange with one remote PDP: an undici keep-alive Pool per PDP origin, one
// POST per evaluation, and every way it can go wrong mapped to an error reason — never
// to a decision (fail closed, SPEC §4: "PDP unreachable or too slow → 503").
//
// The timeout covers the whole exchange (connect, response headers and body): a PDP
// that trickles its answer one byte a second must not hold a request past it. The
// answer is read up to MAX_ANSWER_BYTES and must say it is JSON.
import { Pool } from 'undici';
import type { RemotePdpSettings } from '../config/pdp.ts';
import { parseAnswerJson, parseAuthzenAnswer, parseOpaAnswer, type ParsedAnswer } from './answers.ts';

/** Why an evaluation is not a decision (the access log's details and a metrics label). */
export type PdpErrorReason = 'pdp-timeout' | 'pdp-unavailable' | 'pdp-bad-status' | 'pdp-malformed-answer' | 'pdp-circuit-open';

/** A decision is a few hundred bytes; more is a broken or hostile PDP (or the wrong URL). */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** The path an AuthZEN 1.0 access evaluation is POSTed to, under the PDP's base URL. */
export const AUTHZEN_EVALUATION_PATH = '/access/v1/evaluation';

/** Where the document goes: OPA's URL is the decision itself; AuthZEN's is a base URL. */
export function pdpEndpoint(settings: Pick<RemotePdpSettings, 'mode' | 'url'>): URL {
  const url = new URL(settings.url);
  if (settings.mode === 'authzen') url.pathname = url.pathname.replace(/\/+$/, '') + AUTHZEN_EVALUATION_PATH;
  return url;
}

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

export class PdpHttpClient {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #timeout: number;
  readonly #parse: (body: unknown) => ParsedAnswer | undefined;

  constructor(settings: RemotePdpSettings) {
    const endpoint = pdpEndpoint(settings);
    this.#path = endpoint.pathname;
    this.#timeout = settings.timeout;
    this.#parse = settings.mode === 'opa' ? parseOpaAnswer : parseAuthzenAnswer;
    this.#pool = new Pool(endpoint.origin, {
      connect: { timeout: settings.timeout, rejectUnauthorized: true },
      headersTimeout: settings.timeout,
      bodyTimeout: settings.timeout,
      maxResponseSize: MAX_ANSWER_BYTES,
      keepAliveTimeout: 4000,
      // A bounded number of sockets; requests past it queue and time out like any other.
      connections: 128,
      pipelining: 1,
    });
  }

  /** One evaluation: the parsed answer, or why there is none. Never throws. */
  async evaluate(body: string, requestId: string): Promise<ParsedAnswer | PdpErrorReason> {
    const timer = AbortSignal.timeout(this.#timeout);
    let res;
    try {
      res = await this.#pool.request({
        path: this.#path,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-request-id': requestId },
        body,
        signal: timer,
      });
    } catch (err) {
      if (timer.aborted || isTimeout(err)) return 'pdp-timeout';
      // An announced Content-Length above the cap is refused before the body is read.
      return (err as { code?: unknown }).code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE' ? 'pdp-malformed-answer' : 'pdp-unavailable';
    }
    try {
      if (res.statusCode < 200 || res.statusCode > 299) {
        await res.body.dump({ limit: MAX_ANSWER_BYTES });
        return 'pdp-bad-status';
      }
      const type = res.headers['content-type'];
      if (typeof type !== 'string' || !JSON_MEDIA_TYPE.test(type)) {
        await res.body.dump({ limit: MAX_ANSWER_BYTES });
        return 'pdp-malformed-answer';
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          res.body.destroy();
          return 'pdp-malformed-answer';
        }
        chunks.push(chunk);
      }
      let json: unknown;
      try {
        json = parseAnswerJson(Buffer.concat(chunks, size).toString('utf8'));
      } catch {
        return 'pdp-malformed-answer';
      }
      return this.#parse(json) ?? 'pdp-malformed-answer';
    } catch (err) {
      res.body.destroy();
      if (timer.aborted || isTimeout(err)) return 'pdp-timeout';
      return (err as { code?: unknown }).code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE' ? 'pdp-malformed-answer' : 'pdp-unavailable';
    }
  }

  close(): Promise<void> {
    return this.#pool.close().catch(() => {});
  }

  destroy(): Promise<void> {
    return this.#pool.destroy().catch(() => {});
  }
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown; name?: unknown } | null)?.code;
  const name = (err as { name?: unknown } | null)?.name;
  return code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || name === 'TimeoutError';
}
