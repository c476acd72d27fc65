// Long-lived stream tests (test/streams/): a WebSocket upstream that records every message
// it receives, a client that opens a WebSocket through ztproxy and keeps its X-Request-Id
// and X-ZT-Stream, and the renewal request of the wire contract.
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { get, type LogLine, type SimpleResponse, type TestProxy } from './proxy.ts';
import type { StackUpstream } from './stack.ts';

export interface WsUpstream extends StackUpstream {
  readonly messages: string[];
}

export async function startWsUpstream(): Promise<WsUpstream> {
  const messages: string[] = [];
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data) => {
        messages.push((data as Buffer).toString());
        ws.send(`echo:${(data as Buffer).toString()}`);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    messages,
    reset: () => {
      messages.length = 0;
    },
    close: () => {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface OpenWs {
  readonly ws: WebSocket;
  /** X-Request-Id of the handshake (the stream's access-log line). */
  readonly requestId: string;
  /** X-ZT-Stream: what a renewal names. */
  readonly streamId: string;
  /** Resolves with Date.now() when the client sees the close. */
  readonly closed: Promise<number>;
}

/** Opens a WebSocket through the proxy on `port` with these headers; rejects with the status if refused. */
export async function openWs(port: number, host: string, headers: Record<string, string>, path = '/chat', tls: { cert?: Buffer; key?: Buffer } = {}): Promise<OpenWs> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, { rejectUnauthorized: false, headers: { host, ...headers }, ...tls });
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now())));
  const ids = await new Promise<{ requestId: string; streamId: string }>((resolve, reject) => {
    ws.once('upgrade', (res) => resolve({ requestId: String(res.headers['x-request-id']), streamId: String(res.headers['x-zt-stream']) }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
  });
  await new Promise((resolve) => (ws.readyState === WebSocket.OPEN ? resolve(undefined) : ws.once('open', resolve)));
  return { ws, ...ids, closed };
}

/** Sends `text` and resolves with the echo, or undefined when none comes within 500 ms (the stream is gone). */
export function echo(ws: WebSocket, text: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 500);
    ws.once('message', (d) => {
      clearTimeout(timer);
      resolve((d as Buffer).toString());
    });
    if (ws.readyState === WebSocket.OPEN) ws.send(text);
  });
}

/** Resolves with the close time, or undefined if the stream is still open after `ms`. */
export function closedWithin(stream: OpenWs, ms: number): Promise<number | undefined> {
  return Promise.race([stream.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms))]);
}

/** POST /.ztproxy/streams/renew with these headers (and a client certificate, if given). */
export function renew(port: number, headers: Record<string, string>, method = 'POST', tls?: { cert: Buffer; key: Buffer }): Promise<SimpleResponse> {
  return get(port, '/.ztproxy/streams/renew', { method, headers, ...(tls ? { tls } : {}) });
}

/** The access-log line of a request id (a stream's line is written when it ends). */
export function accessLine(proxy: TestProxy, requestId: string): LogLine | undefined {
  return proxy.logs.find((l) => l.msg === 'request' && l.requestId === requestId);
}

/** The `stream closed` line of a stream's request id. */
export function closeLine(proxy: TestProxy, requestId: string): LogLine | undefined {
  return proxy.logs.find((l) => l.msg === 'stream closed' && l.requestId === requestId);
}

/** ztproxy_stream_closes_total{kind,reason}, read from the proxy's registry. */
export async function closesCounted(proxy: TestProxy, kind: string, reason: string): Promise<number> {
  const metric = await proxy.proxy.metrics.streamCloses.get();
  return metric.values.find((v) => v.labels.kind === kind && v.labels.reason === reason)?.value ?? 0;
}

/** A WebSocket echo upstream that can hold handshakes: the 101 waits until `release()`. */
export interface HoldingWsUpstream extends WsUpstream {
  readonly messages: string[];
  /** From now on, handshakes wait; resolves when one has arrived and is waiting. */
  hold(): Promise<void>;
  release(): void;
}

export async function startHoldingWsUpstream(): Promise<HoldingWsUpstream> {
  const messages: string[] = [];
  let holding = false;
  let held: (() => void)[] = [];
  let arrived: (() => void) | undefined;
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const accept = (): void =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data) => {
          messages.push((data as Buffer).toString());
          ws.send(`echo:${(data as Buffer).toString()}`);
        });
      });
    if (!holding) return accept();
    held.push(accept);
    arrived?.();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    messages,
    hold: () => {
      holding = true;
      return new Promise<void>((resolve) => (arrived = resolve));
    },
    release: () => {
      holding = false;
      arrived = undefined;
      const waiting = held;
      held = [];
      for (const go of waiting) go();
    },
    reset: () => {
      messages.length = 0;
    },
    close: () => {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
