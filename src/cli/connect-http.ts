// The two plain HTTP calls `ztproxy connect` makes to the proxy besides its CONNECTs,
// through undici over the same TLS identity (the --ca trust, the client certificate):
// `GET /.well-known/ztproxy/cli-configuration` for the posture header's name, and
// `POST /.ztproxy/streams/renew` with fresh credentials for an open tunnel (the wire
// contract of issue #6; docs/design.md "ztproxy connect").
import { Agent, request } from 'undici';
import { tlsTarget, trustedCas, type ProxyEndpoint } from './connect-tunnel.ts';

export const CLI_CONFIGURATION_PATH = '/.well-known/ztproxy/cli-configuration';
export const RENEW_PATH = '/.ztproxy/streams/renew';
export const DEFAULT_POSTURE_HEADER = 'X-Device-Posture';
export const STREAM_HEADER = 'X-ZT-Stream';

/** RFC 9110 §5.1 field-name token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
/**
 * Names a published `device_header` may not take: the posture would overwrite or smuggle
 * the request's own framing or credentials (a proxy answering `Authorization` would make
 * the CLI replace its token with the posture assertion).
 */
const RESERVED_NAMES = new Set(['authorization', 'host', 'connection', 'content-length', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'cookie', 'x-zt-stream', 'keep-alive', 'expect']);

export function isUsablePostureHeader(name: string): boolean {
  return FIELD_NAME.test(name) && !RESERVED_NAMES.has(name.toLowerCase());
}

export class ProxyHttpError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProxyHttpError';
  }
}

/** A small JSON answer: anything bigger is not what the proxy sends. */
const MAX_BODY = 64 * 1024;
const TIMEOUT_MS = 15_000;

export interface RenewAnswer {
  readonly status: number;
  readonly error: string | undefined;
  readonly requestId: string | undefined;
}

async function readSmallBody(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    length += chunk.length;
    if (length > MAX_BODY) throw new ProxyHttpError(`the answer is longer than ${MAX_BODY / 1024} KiB`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class ProxyHttp {
  readonly #origin: string;
  readonly #agent: Agent;

  constructor(proxy: ProxyEndpoint) {
    this.#origin = proxy.url.origin;
    const { servername } = tlsTarget(proxy.url);
    this.#agent = new Agent({
      connect: {
        ...(servername === undefined ? {} : { servername }),
        ...(proxy.ca === undefined ? {} : { ca: trustedCas(proxy.ca) }),
        ...(proxy.cert === undefined ? {} : { cert: proxy.cert }),
        ...(proxy.key === undefined ? {} : { key: proxy.key }),
      },
      connections: 2,
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
  }

  /**
   * The posture header's name the proxy publishes (`device_header`), or the default when
   * it publishes no CLI configuration (404) or no device block. A name that is not a
   * usable header is an error, not silently replaced: the posture would not count.
   */
  async postureHeader(): Promise<string> {
    let res;
    try {
      res = await request(`${this.#origin}${CLI_CONFIGURATION_PATH}`, { dispatcher: this.#agent, headers: { accept: 'application/json' } });
    } catch (err) {
      throw new ProxyHttpError(`cannot reach ${this.#origin}: ${(err as Error).message}`, { cause: err });
    }
    const text = await readSmallBody(res.body);
    if (res.statusCode === 404) return DEFAULT_POSTURE_HEADER;
    if (res.statusCode !== 200) throw new ProxyHttpError(`${CLI_CONFIGURATION_PATH} answered ${res.statusCode}`);
    const doc = jsonObject(text);
    if (doc === undefined) throw new ProxyHttpError(`${CLI_CONFIGURATION_PATH} is not a JSON object`);
    const name = doc.device_header;
    if (name === undefined) return DEFAULT_POSTURE_HEADER;
    if (typeof name !== 'string' || !isUsablePostureHeader(name)) throw new ProxyHttpError(`${CLI_CONFIGURATION_PATH} names an unusable device_header`);
    return name;
  }

  /** Presents fresh credentials for the open stream `streamId`. */
  async renew(streamId: string, token: string | undefined, posture: { header: string; value: string } | undefined): Promise<RenewAnswer> {
    const headers: Record<string, string> = { [STREAM_HEADER.toLowerCase()]: streamId };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (posture !== undefined) headers[posture.header.toLowerCase()] = posture.value;
    let res;
    try {
      res = await request(`${this.#origin}${RENEW_PATH}`, { method: 'POST', dispatcher: this.#agent, headers });
    } catch (err) {
      throw new ProxyHttpError(`cannot reach ${this.#origin}: ${(err as Error).message}`, { cause: err });
    }
    const doc = jsonObject(await readSmallBody(res.body));
    const requestIdHeader = res.headers['x-request-id'];
    const requestId = typeof requestIdHeader === 'string' ? requestIdHeader : typeof doc?.requestId === 'string' ? doc.requestId : undefined;
    return { status: res.statusCode, error: typeof doc?.error === 'string' ? doc.error : undefined, requestId };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
