// Composition root (the PA of NIST SP 800-207 in process form): load the config, build
// the first snapshot, open the listeners, then keep the state current — config reload on
// file change and SIGHUP, certificate reload on file change — and shut down gracefully.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { DestinationStream } from 'pino';
import { loadConfig } from './config/load.ts';
import { parseListenAddress, type Config } from './config/schema.ts';
import { buildSnapshot, IdentityRuntime, SnapshotError, type AssembledSnapshot as Snapshot } from './assembly/snapshot.ts';
import { RequestContext } from './pipeline/context.ts';
import { runPipeline, type RunDeps } from './pipeline/run.ts';
import { answerClientError, createHttpsListener, createRedirectListener } from './proxy/listener.ts';
import { UpstreamRegistry } from './proxy/upstream.ts';
import { StreamRegistry } from './proxy/streams.ts';
import { PdpRegistry } from './pdp/index.ts';
import { isPoisoned, poisonConnection, sendLocalReply } from './proxy/reply.ts';
import { CloseSpreader, jitter } from './proxy/close-spread.ts';
import { ConnectionGuard, isRefusedConnection } from './proxy/connection-guard.ts';
import { markExpectsContinue } from './proxy/continue.ts';
import { startInTurn, upgradeWaitsTurn, waitingWithBrokenBody } from './proxy/pipelining.ts';
import { recordRequest } from './pipeline/access-log.ts';
import { createAdminServer } from './telemetry/admin.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';
import { Metrics } from './telemetry/metrics.ts';
import { FileWatcher, tlsFiles, validatedSecureContextOptions } from './tls/server-context.ts';
import { socketsToDrop } from './tls/revocation.ts';

/** A connection whose timeout cut is scheduled: later parser errors on it are not answered. */
const kCutting = Symbol('ztproxy.cutting');
/** That cut has been moved up to now (#onRequest). */
const kCutNow = Symbol('ztproxy.cutNow');
/** That cut has been made: whichever of the jittered and the moved-up call comes second does nothing. */
const kCut = Symbol('ztproxy.cut');
/** A request waiting its turn whose body the parser refused: answered 400 when its turn comes. */
const kParserRefused = Symbol('ztproxy.parserRefused');

export interface StartOptions {
  readonly configFile: string;
  /** Where log lines go (default: stdout). */
  readonly logDestination?: DestinationStream;
  readonly env?: NodeJS.ProcessEnv;
  /** Watch the config and certificate files (default true). */
  readonly watch?: boolean;
  /** Poll interval for watched files. */
  readonly watchIntervalMs?: number;
  /** Install SIGHUP / SIGTERM / SIGINT handlers (the CLI does; tests do not). */
  readonly handleSignals?: boolean;
  /** Collect Node process metrics as well. */
  readonly processMetrics?: boolean;
}

export class StartError extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    super(`invalid configuration:\n  ${errors.join('\n  ')}`);
    this.errors = errors;
  }
}

function listenOn(server: HttpServer | HttpsServer, address: string): Promise<AddressInfo> {
  const { host, port } = parseListenAddress(address)!;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export class ZtProxy {
  readonly log: Logger;
  readonly metrics: Metrics;
  #snapshot: Snapshot;
  #version = 1;
  readonly #opts: StartOptions;
  readonly #upstreams: UpstreamRegistry;
  readonly #pdps: PdpRegistry;
  readonly #identity: IdentityRuntime;
  readonly #deps: RunDeps;
  #https!: HttpsServer;
  #redirect: HttpServer | undefined;
  #admin!: HttpServer;
  #configWatcher: FileWatcher | undefined;
  #tlsWatcher: FileWatcher | undefined;
  #inFlight = 0;
  #shuttingDown = false;
  #ready = false;
  #signalHandlers: [NodeJS.Signals, () => void][] = [];
  /** Open connections that authenticated with a client certificate (see #applyTls). */
  readonly #certSockets = new Set<TLSSocket>();
  /** Sockets handed to the upgrade path (WebSocket tunnels, CONNECT answers). */
  readonly #upgraded = new Set<Duplex>();
  /** Open WebSocket and CONNECT tunnels (proxy/streams.ts), across snapshots. */
  readonly #streams: StreamRegistry;
  /** Connection cuts, jittered and a few per tick (proxy/close-spread.ts). */
  readonly #closer = new CloseSpreader();
  #guard!: ConnectionGuard;
  readonly #answerTimeout = (socket: Duplex): void => this.#cutTimedOut(socket);
  readonly #startRequest = (req: IncomingMessage, res: ServerResponse): void => this.#runRequest(req, res);
  readonly #startUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.#runUpgrade(req, socket, head);
  addresses!: { https: AddressInfo; admin: AddressInfo; redirect: AddressInfo | undefined };

  private constructor(
    opts: StartOptions,
    snapshot: Snapshot,
    log: Logger,
    metrics: Metrics,
    upstreams: UpstreamRegistry,
    identity: IdentityRuntime,
    pdps: PdpRegistry,
    streams: StreamRegistry,
  ) {
    this.#opts = opts;
    this.#streams = streams;
    streams.telemetry = {
      opened: (kind) => metrics.countStreamOpened(kind),
      closed: (kind, reason) => metrics.countStreamClosed(kind, reason),
      // Besides the stream's access-log line (written when it ends): the moment and why
      // ztproxy cut it (README "Long-lived streams").
      cut: (stream, reason) => {
        const ctx = stream.ctx;
        log.info({ requestId: ctx.id, kind: stream.kind, route: ctx.route?.name, subject: ctx.subject?.sub, issuer: ctx.subject?.issuer, deviceId: ctx.device?.id, reason }, 'stream closed');
      },
      tunnelBytes: (route, direction) => metrics.tunnelByteCounter(route, direction),
    };
    // A revoked session (logout, back-channel logout, refused refresh) cuts its streams now.
    identity.sessions.revocations.onRevoked = (revocation) => streams.revoked(revocation);
    this.log = log;
    this.metrics = metrics;
    this.#upstreams = upstreams;
    this.#pdps = pdps;
    this.#identity = identity;
    identity.sessions.log = log;
    identity.sessions.count = (event) => metrics.sessionEvents.inc({ event });
    identity.lockout.telemetry = {
      // One fixed message per ban, for fail2ban or a SIEM to match (README "Deny after
      // repeated failures"); the refused requests are the access log's (reason locked-out).
      banned: (e) => {
        metrics.countLockout(e.kind);
        if (e.kind === 'subject' && e.issuer !== undefined) streams.subjectBanned(e.issuer, e.key);
        log.warn(
          e.kind === 'ip'
            ? { kind: e.kind, clientIp: e.key, failures: e.failures, banForSeconds: Math.ceil(e.banForMs / 1000) }
            : { kind: e.kind, subject: e.key, issuer: e.issuer, failures: e.failures, banForSeconds: Math.ceil(e.banForMs / 1000) },
          'lockout: banned',
        );
      },
      refused: (kind) => metrics.countLockoutRefusal(kind),
      storeFailed: (err) => log.error({ err }, 'lockout: store failed; requests go on unchecked'),
    };
    metrics.lockoutBansSource = () => identity.lockout.bans(Date.now());
    this.#deps = { log, metrics, respond: sendLocalReply };
    this.#snapshot = snapshot;
    streams.start({ snapshot: () => this.#snapshot });
    upstreams.retain(snapshot.upstreams);
    pdps.retain(snapshot.pdps);
    this.#identityStarted(snapshot);
  }

  /** Discovery of the OpenID Provider starts at once; a failure is retried by the first login. */
  #identityStarted(snapshot: Snapshot): void {
    const sessions = snapshot.sessions;
    if (sessions === undefined) return;
    if (snapshot.config.identity.session.keys === undefined) {
      this.log.warn({ key: 'identity.session.keys' }, 'no session keys configured: a random key per process (a restart ends every session)');
    }
    sessions.rp.warmUp((err) => this.log.warn({ err: (err as Error).message, issuer: sessions.rp.config.issuer }, 'OpenID Provider discovery failed; logins answer 503 until it succeeds'));
  }

  static async start(opts: StartOptions): Promise<ZtProxy> {
    const loaded = await loadConfig(opts.configFile, opts.env);
    if (!loaded.ok) throw new StartError(loaded.errors);
    const config = loaded.config;
    const log = createLogger(config.log.level, opts.logDestination);
    const metrics = new Metrics({ processMetrics: opts.processMetrics ?? false });
    let proxy: ZtProxy;
    const upstreams = new UpstreamRegistry();
    const identity = new IdentityRuntime();
    const streams = new StreamRegistry();
    const pdps = new PdpRegistry((label) =>
      metrics.pdp(label, (state) => {
        if (state === 'open') log.warn({ pdp: label }, 'PDP circuit open: requests it decides answer 503 without asking it until the cool-down ends');
        else if (state === 'closed') log.info({ pdp: label }, 'PDP circuit closed: the PDP answers again');
      }),
    );
    try {
      proxy = new ZtProxy(opts, await buildSnapshot(config, 1, upstreams, identity, pdps, streams), log, metrics, upstreams, identity, pdps, streams);
    } catch (err) {
      if (err instanceof SnapshotError) throw new StartError(err.errors);
      throw err;
    }
    await proxy.#listen(config);
    return proxy;
  }

  get snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** The open WebSockets and CONNECT tunnels (tests: what the registry holds). */
  get streams(): StreamRegistry {
    return this.#streams;
  }

  async #listen(config: Config): Promise<void> {
    let context;
    try {
      context = validatedSecureContextOptions(config.listen);
    } catch (err) {
      throw new StartError([`listen.tls: ${(err as Error).message}`]);
    }
    this.#https = createHttpsListener(config.listen, context, {
      request: (req, res) => this.#onRequest(req, res),
      checkContinue: (req, res) => {
        markExpectsContinue(res);
        this.#onRequest(req, res);
      },
      upgrade: (req, socket, head) => this.#onUpgrade(req, socket, head),
      clientError: (err, socket) => this.#onClientError(err, socket),
    }, this.#closer);
    const limits = config.listen.limits;
    this.#guard = new ConnectionGuard(
      {
        maxHandshakes: limits.maxHandshakes,
        maxConnectionsPerIp: limits.maxConnectionsPerIp,
        handshakeTimeout: limits.handshakeTimeout,
        exempt: (ip, family) => this.#snapshot.trustedProxies?.check(ip, family) === true,
      },
      this.metrics,
      this.#closer,
    );
    this.#guard.attach(this.#https);
    this.#https.on('secureConnection', (socket: TLSSocket) => {
      // TLS 1.2 renegotiation could swap the client certificate under a connection whose
      // identity is already established (and costs the server a handshake each time).
      socket.disableRenegotiation();
      this.metrics.tlsHandshakes.inc({ result: 'ok' });
      if (socket.authorized && socket.getPeerX509Certificate()) {
        this.#certSockets.add(socket);
        socket.once('close', () => this.#certSockets.delete(socket));
      }
    });
    this.#https.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      if (isRefusedConnection(socket)) return;
      this.metrics.tlsHandshakes.inc({ result: 'error' });
      this.log.debug({ code: err.code, reason: err.message }, 'tls handshake failed');
    });
    this.#admin = createAdminServer(this.metrics, () => {
      if (!this.#ready) return 'starting';
      if (this.#shuttingDown) return 'shutting down';
      return this.#pdps.notReadyReason();
    });
    const https = await listenOn(this.#https, config.listen.address);
    const admin = await listenOn(this.#admin, config.admin.address);
    let redirect: AddressInfo | undefined;
    if (config.listen.redirectHttp) {
      this.#redirect = createRedirectListener(https.port, config.listen.limits.headersTimeout);
      redirect = await listenOn(this.#redirect, config.listen.redirectHttp.address);
    }
    this.addresses = { https, admin, redirect };
    if (this.#opts.watch !== false) {
      const interval = this.#opts.watchIntervalMs ?? 1000;
      this.#configWatcher = new FileWatcher(() => void this.reload('file'), interval);
      this.#configWatcher.watch(this.#configFiles(config));
      this.#tlsWatcher = new FileWatcher(() => this.reloadTls(), interval);
      this.#tlsWatcher.watch(tlsFiles(config.listen));
    }
    if (this.#opts.handleSignals) this.#installSignals();
    this.#ready = true;
    this.log.info({ https: `${https.address}:${https.port}`, admin: `${admin.address}:${admin.port}`, routes: config.routes.length }, 'ztproxy listening');
  }

  /**
   * Files whose change means a new snapshot: the config itself, and the key material it
   * names that is read when a snapshot is built (JWKS files of token and device issuers,
   * assertion keys, OpenAPI documents) — rotating a key file takes effect without
   * touching the config.
   */
  #configFiles(config: Config): string[] {
    const files = [this.#opts.configFile];
    for (const issuer of config.identity.jwt ?? []) if (issuer.jwksFile) files.push(issuer.jwksFile);
    // A device-agent key withdrawn from its JWKS file stops vouching for devices at once
    // (the new snapshot's verifier starts with an empty cache).
    for (const issuer of config.device?.issuers ?? []) if (issuer.jwksFile) files.push(issuer.jwksFile);
    files.push(...(config.identity.assertion.keys ?? []));
    // A route's OpenAPI document names its path templates: editing it is a new snapshot.
    for (const route of config.routes) if (route.openapi) files.push(route.openapi);
    return files;
  }

  #installSignals(): void {
    const on = (signal: NodeJS.Signals, fn: () => void) => {
      process.on(signal, fn);
      this.#signalHandlers.push([signal, fn]);
    };
    on('SIGHUP', () => void this.reload('signal'));
    const stop = () => {
      void this.shutdown().then(() => process.exit(0));
    };
    on('SIGTERM', stop);
    on('SIGINT', stop);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    // One request at a time per connection (proxy/pipelining.ts).
    if (!startInTurn(req, res, this.#startRequest)) req.socket.destroy();
  }

  #runRequest(req: IncomingMessage, res: ServerResponse): void {
    if ((req as { [kParserRefused]?: true })[kParserRefused] === true) {
      // Its body was refused by the parser while it waited (#answerClientError): its 400,
      // then the connection closes; nothing of it is forwarded.
      const ctx = new RequestContext(randomUUID(), this.#snapshot, req, res, undefined);
      sendLocalReply(ctx, { code: 'bad-request', details: 'request-refused-by-parser' });
      recordRequest(ctx, this.log, this.metrics);
      return;
    }
    if (isPoisoned(req.socket)) {
      // A request pipelined behind one refused for its framing (or behind a timeout being
      // cut): never processed. The refusal ahead of it went out with `Connection: close`,
      // so Node closes the connection once it is flushed; closing here as well added a
      // socket listener per queued request (MaxListenersExceededWarning from 11 on).
      res.shouldKeepAlive = false;
      const socket = req.socket as typeof req.socket & { [kCutting]?: true; [kCutNow]?: true };
      if (socket[kCutting] === true) {
        // A request completed after its deadline, while its cut waits for its jitter: it
        // is answered 408 and the connection cut now. Waiting out the jitter kept reading:
        // every request pipelined behind it was parsed and kept, never answered, so Node's
        // pipelining brake (it waits for answers to back up) never engaged — hundreds of
        // MB of heap per connection. The per-tick budget still spreads a herd of them.
        (res as { [kCutting]?: true })[kCutting] = true;
        if (socket[kCutNow] !== true) {
          socket[kCutNow] = true;
          this.#closer.now(socket, this.#answerTimeout);
        }
      }
      return;
    }
    const ctx = new RequestContext(randomUUID(), this.#snapshot, req, res, undefined);
    this.#track(runPipeline(ctx, this.#deps));
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    // Behind requests still being answered: after them (proxy/pipelining.ts).
    if (!upgradeWaitsTurn(req, socket, head, this.#startUpgrade)) this.#runUpgrade(req, socket, head);
  }

  #runUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (isPoisoned(socket)) {
      // A handshake or CONNECT pipelined behind a request refused for its framing: never
      // processed (RFC 9112 §9.6); the socket closes once that refusal is flushed.
      (socket as { destroySoon?: () => void }).destroySoon?.();
      return;
    }
    // Upgraded sockets leave the HTTP server's bookkeeping; shutdown closes them itself.
    this.#upgraded.add(socket);
    socket.once('close', () => this.#upgraded.delete(socket));
    const ctx = new RequestContext(randomUUID(), this.#snapshot, req, undefined, { socket, head });
    this.#track(runPipeline(ctx, this.#deps));
  }

  #track(done: Promise<void> | undefined): void {
    // Answered and recorded synchronously (a refusal decided from memory): nothing in flight.
    if (done === undefined) return;
    this.#inFlight++;
    // runPipeline answers its own errors; one escaping it (e.g. from the access log) must
    // not become an unhandled rejection, which would end the process for every client.
    // Bound once: no closures and one promise per request.
    void done.then(this.#finished, this.#failedAfterAnswer);
  }

  readonly #finished = (): void => {
    this.#inFlight--;
  };

  readonly #failedAfterAnswer = (err: unknown): void => {
    this.#inFlight--;
    this.log.error({ err }, 'request chain failed after answering');
  };

  /** Parser-level rejections and timeouts (no stage ran): answered here, logged like a request. */
  #onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const code = err.code ?? 'ERR';
    // A connection the guard reset before its handshake: no request, nothing to answer.
    if (isRefusedConnection(socket)) return;
    const cutting = socket as Duplex & { [kCutting]?: true };
    // Bytes after a refusal that already closed our side (garbage sent while the
    // connection lingers, or behind a scheduled timeout cut): nothing more to answer.
    if (cutting[kCutting] === true || (isPoisoned(socket) && !socket.writable)) return;
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // Node found the deadline passed in its periodic sweep, which reports every
      // connection that expired since the last sweep at once. Cut each after its own
      // jitter, a few per tick; meanwhile nothing more on this connection is processed.
      cutting[kCutting] = true;
      poisonConnection(socket);
      this.#closer.after(jitter(this.#snapshot.config.listen.limits.headersTimeout), socket, this.#answerTimeout);
      return;
    }
    this.#answerClientError(socket, code, err);
  }

  /** The scheduled cut of a connection whose request missed headersTimeout/requestTimeout. */
  #cutTimedOut(socket: Duplex): void {
    const cut = socket as Duplex & { [kCut]?: true };
    if (cut[kCut] === true) return;
    cut[kCut] = true;
    const inFlight = (socket as { _httpMessage?: (ServerResponse & { [kCutting]?: true }) | null })._httpMessage;
    // The request completed during the jitter and was dropped unanswered: answer the 408.
    if (inFlight?.[kCutting] === true) this.#answerParserError(socket, 'ERR_HTTP_REQUEST_TIMEOUT');
    else this.#answerClientError(socket, 'ERR_HTTP_REQUEST_TIMEOUT', Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }));
  }

  #answerClientError(socket: Duplex, code: string, err: Error): void {
    const inFlight = (socket as { _httpMessage?: (ServerResponse & { req?: IncomingMessage }) | null })._httpMessage;
    if (inFlight && inFlight.req?.complete === false) {
      // The error is inside the body of the request being forwarded (a malformed chunk,
      // a body cut short by EOF, a body slower than requestTimeout): the upstream must not
      // wait for the rest. Answer if nothing was sent yet, and cut the connection; the
      // aborted request stream aborts the upstream request.
      if (!inFlight.headersSent) {
        const status = code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
        answerClientError(socket, status, randomUUID(), this.#snapshot.hstsHeader);
      } else socket.destroy();
      inFlight.req.destroy(err);
      return;
    }
    if (inFlight) {
      // Bytes after a request still being answered (pipelined garbage, or data after
      // `Connection: close`): Node stopped parsing at the error, so nothing more is read;
      // let that response finish and close the connection behind it.
      // A response queued behind it that refused a request for its framing (the error is
      // in that request's body) closes the connection once written; otherwise this one
      // must — and the refusal must not be dropped by closing early.
      // A request waiting its turn behind it (proxy/pipelining.ts) whose body the parser
      // refused gets its 400 when its turn comes.
      const broken = waitingWithBrokenBody(socket);
      if (broken !== undefined) (broken as { [kParserRefused]?: true })[kParserRefused] = true;
      else if (!isPoisoned(socket)) inFlight.shouldKeepAlive = false;
      poisonConnection(socket);
      return;
    }
    this.#answerParserError(socket, code);
  }

  #answerParserError(socket: Duplex, code: string): void {
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const id = randomUUID();
    this.log.info({ msg: 'request', requestId: id, status, decision: 'none', reason: `parser-${code.toLowerCase()}` });
    this.metrics.countRequest('', status, 'none');
    answerClientError(socket, status, id, this.#snapshot.hstsHeader);
  }

  /**
   * Reload the config file. A config that fails validation (or cannot be built) keeps
   * the running snapshot and logs every problem.
   */
  async reload(trigger: 'file' | 'signal' | 'api' = 'api'): Promise<{ ok: boolean; errors: string[] }> {
    const loaded = await loadConfig(this.#opts.configFile, this.#opts.env);
    if (!loaded.ok) return this.#rejectReload(trigger, loaded.errors);
    const old = this.#snapshot;
    let next: Snapshot;
    try {
      next = await buildSnapshot(loaded.config, this.#version + 1, this.#upstreams, this.#identity, this.#pdps, this.#streams);
    } catch (err) {
      return this.#rejectReload(trigger, err instanceof SnapshotError ? err.errors : [(err as Error).message]);
    }
    const listenChanged = JSON.stringify(old.config.listen) !== JSON.stringify(next.config.listen);
    if (listenChanged) {
      try {
        this.#applyTls(next.config.listen);
      } catch (err) {
        this.#upstreams.discard(next.upstreams);
        this.#pdps.discard(next.pdps);
        return this.#rejectReload(trigger, [`listen.tls: ${(err as Error).message}`]);
      }
      this.#tlsWatcher?.watch(tlsFiles(next.config.listen));
      for (const key of ['address', 'redirectHttp', 'limits', 'trustedProxies'] as const) {
        if (key !== 'trustedProxies' && JSON.stringify(old.config.listen[key]) !== JSON.stringify(next.config.listen[key])) {
          this.log.warn({ key: `listen.${key}` }, 'this setting takes effect only after a restart');
        }
      }
      if (old.config.listen.clientAuth.mode !== next.config.listen.clientAuth.mode) {
        this.log.warn({ key: 'listen.clientAuth.mode' }, 'this setting takes effect only after a restart');
      }
    }
    this.#version++;
    this.#snapshot = next;
    // Open streams are judged by the new config now; only those it refuses close.
    void this.#streams.reauthorizeAll(next);
    if (next.sessions !== undefined && next.sessions.rp !== old.sessions?.rp) this.#identityStarted(next);
    this.#configWatcher?.watch(this.#configFiles(next.config));
    this.#upstreams.retain(next.upstreams);
    this.#pdps.retain(next.pdps);
    // Requests still running on the old snapshot keep their verifier object; close()
    // only drops its cache and key-set timers.
    if (old.bearer !== next.bearer) old.bearer?.close();
    if (old.posture !== next.posture) old.posture?.close();
    this.metrics.configReloads.inc({ kind: 'config', result: 'ok' });
    this.log.info({ trigger, version: next.version, routes: next.routes.length }, 'configuration reloaded');
    return { ok: true, errors: [] };
  }

  #rejectReload(trigger: string, errors: string[]): { ok: false; errors: string[] } {
    this.metrics.configReloads.inc({ kind: 'config', result: 'error' });
    for (const problem of errors) this.log.error({ trigger, problem }, 'configuration reload rejected; keeping the running configuration');
    return { ok: false, errors };
  }

  /**
   * New handshakes get the new context; open connections keep theirs, except those whose
   * client certificate the new CA/CRL no longer accepts: they are closed now.
   */
  #applyTls(listen: Config['listen']): void {
    const options = validatedSecureContextOptions(listen);
    this.#https.setSecureContext(options);
    if (this.#certSockets.size === 0 || options.ca === undefined) return;
    const dropped = socketsToDrop(this.#certSockets, options.ca as Buffer | undefined, options.crl as Buffer | undefined);
    // A WebSocket or tunnel on such a connection is cut with its reason (log, metric).
    this.#streams.closeOn(dropped, 'client-cert-revoked');
    for (const socket of dropped) socket.destroy();
    if (dropped.length > 0) this.log.warn({ connections: dropped.length }, 'closed connections whose client certificate is revoked or no longer trusted');
  }

  /** Re-read certificate, key, CA and CRL files; on failure the old context stays. */
  reloadTls(): boolean {
    try {
      this.#applyTls(this.#snapshot.config.listen);
      this.metrics.configReloads.inc({ kind: 'tls', result: 'ok' });
      this.log.info('tls certificates reloaded');
      return true;
    } catch (err) {
      this.metrics.configReloads.inc({ kind: 'tls', result: 'error' });
      this.log.error({ problem: (err as Error).message }, 'tls reload failed; keeping the current certificates');
      return false;
    }
  }

  /**
   * Stop accepting, let requests in flight finish (up to shutdown.timeout), then cut
   * what is left and close the upstream pools.
   */
  async shutdown(): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#configWatcher?.close();
    this.#tlsWatcher?.close();
    for (const [signal, fn] of this.#signalHandlers) process.off(signal, fn);
    const closed = [this.#https, this.#redirect].filter((s): s is HttpsServer | HttpServer => s !== undefined).map(
      (s) => new Promise<void>((resolve) => s.close(() => resolve())),
    );
    const deadline = Date.now() + this.#snapshot.config.shutdown.timeout;
    // Open WebSockets and tunnels never finish by themselves (an idle SSH session lasts
    // for hours): waiting for them would only stretch every stop to shutdown.timeout.
    // They are closed at once (reason `shutdown`), so their clients reconnect elsewhere;
    // ordinary requests get the time to finish. Streams the drain still opens go too.
    this.#streams.closeAll('shutdown');
    while (this.#inFlight > 0 && Date.now() < deadline) {
      this.#https.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 25));
      this.#streams.closeAll('shutdown');
    }
    this.#https.closeAllConnections();
    this.#guard.cutHandshakes();
    this.#streams.stop();
    this.#streams.closeAll('shutdown');
    for (const socket of this.#upgraded) socket.destroy();
    this.#redirect?.closeAllConnections();
    // Requests still in flight after the deadline are cut; their upstream requests too
    // (a graceful pool close would wait for them without bound).
    if (this.#inFlight > 0) await this.#upstreams.destroyAll();
    await Promise.all(closed);
    await this.#upstreams.closeAll();
    await this.#pdps.closeAll();
    await new Promise<void>((resolve) => this.#admin.close(() => resolve()));
    this.#admin.closeAllConnections();
    this.log.info({ abandoned: this.#inFlight }, 'ztproxy stopped');
    this.log.flush();
  }
}

export function startProxy(opts: StartOptions): Promise<ZtProxy> {
  return ZtProxy.start(opts);
}
