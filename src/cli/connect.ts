// `ztproxy connect HOST:PORT --via https://PROXY` (SPEC §2, issue #6 point 3): a TCP
// tunnel through ztproxy for SSH, databases and other TCP services. Each tunnel is a
// `CONNECT HOST:PORT` over the proxy's TLS listener carrying the client certificate, the
// bearer token (the stored login of `ztproxy login`, or --token-file) and the device
// posture assertion (--posture FILE or --posture-command CMD); the proxy decides as for
// any request. Without --listen the tunnel is stdin/stdout, so that
//   ssh -o ProxyCommand='ztproxy connect %h:%p --via https://proxy' host
// works: stdout carries tunnel bytes and nothing else; every message goes to stderr.
// With --listen ADDRESS:PORT each connection accepted there gets a tunnel of its own
// (database clients). A refusal prints the status, the proxy's error, the request id and
// what to do on stderr and exits 1; usage errors exit 2.
import { readFile } from 'node:fs/promises';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { printable } from './policy-tests.ts';
import { storedAccessToken, CredentialsError } from './credentials.ts';
import { commandSource, credentialOf, fileSource, SourceError, type Credential, type Source } from './connect-sources.ts';
import { DEFAULT_POSTURE_HEADER, isUsablePostureHeader, ProxyHttp, ProxyHttpError } from './connect-http.ts';
import { openTunnel, TunnelRefused, TunnelUnreachable, type OpenTunnel, type ProxyEndpoint } from './connect-tunnel.ts';
import { StreamRenewal } from './connect-renew.ts';

export const CONNECT_USAGE = `usage: ztproxy connect HOST:PORT --via https://PROXY[:PORT] [--listen 127.0.0.1:PORT]
                       [--ca FILE] [--cert FILE --key FILE] [--token-file FILE]
                       [--posture FILE | --posture-command CMD] [--posture-header NAME]
`;

class UsageError extends Error {}

/** `host:port` or `[v6]:port`, as given on the command line. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
  /** host:port as sent (IPv6 in brackets). */
  readonly authority: string;
}

// A host is a name or an IP literal; these would change what the authority means
// (userinfo, a path, a second port) or break the request line.
const BAD_HOST_CHARS = /[\s\u0000-\u001f\u007f/\\?#@[\]:%]/u;

/** Parses HOST:PORT (`[::1]:22` for IPv6); `minPort` is 1 for a target, 0 for --listen (any free port). */
export function parseHostPort(text: string, what: string, minPort = 1): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) throw new UsageError(`${what} must be HOST:PORT (or [IPv6]:PORT), got "${printable(text)}"`);
  const port = Number(m[3]);
  if (port < minPort || port > 65535) throw new UsageError(`${what}: port ${port} is out of range (${minPort}-65535)`);
  const v6 = m[1];
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) throw new UsageError(`${what}: "${printable(v6)}" in brackets is not an IPv6 address`);
    return { host: v6, port, authority: `[${v6}]:${port}` };
  }
  const host = m[2]!;
  if (BAD_HOST_CHARS.test(host) || host.length > 253) throw new UsageError(`${what}: "${printable(host)}" is not a host name or IP address`);
  return { host, port, authority: `${host}:${port}` };
}

/** --via: the proxy's https origin (a path, query or credentials in it are mistakes). */
export function parseVia(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--via must be the proxy's URL, https://PROXY[:PORT], got "${printable(text)}"`);
  }
  if (url.protocol !== 'https:') throw new UsageError(`--via must be an https:// URL (the proxy's TLS listener), got "${printable(text)}"`);
  if (url.username !== '' || url.password !== '') throw new UsageError('--via must not carry a user name or password');
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') throw new UsageError(`--via takes the proxy's origin only (https://PROXY[:PORT]), got "${printable(text)}"`);
  return url;
}

const LOOPBACK_NAMES = new Set(['localhost', 'ip6-localhost']);

export function isLoopback(host: string): boolean {
  if (LOOPBACK_NAMES.has(host.toLowerCase())) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

interface ConnectOptions {
  readonly target: HostPort;
  readonly proxy: ProxyEndpoint;
  readonly listen: HostPort | undefined;
  readonly tokenFile: string | undefined;
  readonly postureFile: string | undefined;
  readonly postureCommand: string | undefined;
  readonly postureHeader: string | undefined;
}

async function readMaterial(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new SourceError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

async function parseOptions(argv: string[]): Promise<ConnectOptions> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      via: { type: 'string' },
      listen: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'token-file': { type: 'string' },
      posture: { type: 'string' },
      'posture-command': { type: 'string' },
      'posture-header': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing HOST:PORT (the service to reach, as the proxy\'s route names it)' : `one HOST:PORT only, got ${positionals.length} arguments`);
  if (values.via === undefined) throw new UsageError('missing --via https://PROXY (the ztproxy to tunnel through)');
  const target = parseHostPort(positionals[0]!, 'HOST:PORT');
  const url = parseVia(values.via);
  const listen = values.listen === undefined ? undefined : parseHostPort(values.listen, '--listen', 0);
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('--cert and --key go together (the client certificate and its private key)');
  if (values.posture !== undefined && values['posture-command'] !== undefined) throw new UsageError('--posture and --posture-command exclude each other');
  for (const flag of ['ca', 'cert', 'key', 'token-file', 'posture', 'posture-command', 'posture-header'] as const) {
    if (values[flag] === '') throw new UsageError(`--${flag} needs a value`);
  }
  const header = values['posture-header'];
  if (header !== undefined && !isUsablePostureHeader(header)) throw new UsageError(`--posture-header "${printable(header)}" is not a header name ztproxy connect can send the posture in`);
  const proxy: ProxyEndpoint = {
    url,
    ...(values.ca === undefined ? {} : { ca: await readMaterial(values.ca, 'the CA file') }),
    ...(values.cert === undefined ? {} : { cert: await readMaterial(values.cert, 'the client certificate') }),
    ...(values.key === undefined ? {} : { key: await readMaterial(values.key, 'the client key') }),
  };
  return {
    target,
    proxy,
    listen,
    tokenFile: values['token-file'],
    postureFile: values.posture,
    postureCommand: values['posture-command'],
    postureHeader: header,
  };
}

export interface ConnectIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
}

/** What each tunnel presents, fetched anew for every tunnel and every renewal. */
class Presenter {
  readonly token: Source;
  readonly posture: Source | undefined;
  readonly postureHeader: string;
  constructor(opts: ConnectOptions, postureHeader: string, warn: (line: string) => void) {
    this.postureHeader = postureHeader;
    if (opts.tokenFile !== undefined) {
      this.token = fileSource(opts.tokenFile, 'the token file');
    } else {
      const via = opts.proxy.url.origin;
      const ca = opts.proxy.ca;
      let lastProblem: string | undefined;
      this.token = async () => {
        try {
          const token = await storedAccessToken(via, ca === undefined ? {} : { ca });
          lastProblem = undefined;
          return token === undefined ? undefined : credentialOf(token);
        } catch (err) {
          // Without a usable login the tunnel is still tried: a route may need only the
          // client certificate. A route that needs a token answers 401, with the hint.
          if (err instanceof CredentialsError) {
            // Once per reason: renewals retry every few seconds until the token's end.
            if (err.message !== lastProblem) warn(err.message);
            lastProblem = err.message;
            return undefined;
          }
          throw err;
        }
      };
    }
    this.posture = opts.postureFile !== undefined ? fileSource(opts.postureFile, 'the posture file') : opts.postureCommand !== undefined ? commandSource(opts.postureCommand) : undefined;
  }
}

/** The lines a refusal prints: what the proxy said, and what the user can do about it. */
export function refusalLines(err: TunnelRefused, target: HostPort, via: string, usedTokenFile: boolean): string[] {
  const said = [err.error === undefined ? undefined : `"${err.error}"`, err.requestId === undefined ? undefined : `request id ${err.requestId}`].filter((s) => s !== undefined).join(', ');
  const lines = [`${target.authority} refused by ${via}: ${err.status}${said === '' ? '' : ` (${said})`}`];
  switch (err.status) {
    case 400:
      lines.push(`the proxy found the request malformed: check HOST:PORT (${target.authority})`);
      break;
    case 401:
      lines.push(usedTokenFile ? `no valid credentials: the token file's token was refused (expired?); or log in: ztproxy login --via ${via}` : `log in: ztproxy login --via ${via}`);
      break;
    case 403:
      lines.push(`denied by policy (for this user, device or client certificate)`);
      break;
    case 404:
      lines.push(`no route for ${target.authority} at ${via}`);
      break;
    case 429:
      lines.push(err.retryAfter === undefined ? 'too many failures: retry later' : `too many failures: retry after ${err.retryAfter} s`);
      break;
    case 502:
    case 504:
      lines.push(`the proxy could not reach ${target.authority}'s service`);
      break;
    case 503:
      lines.push(`the proxy could not decide (identity provider or policy decision point unavailable): retry later${err.retryAfter === undefined ? '' : ` (after ${err.retryAfter} s)`}`);
      break;
    default:
      break;
  }
  return lines.map((l) => printable(l));
}

class Connector {
  readonly #opts: ConnectOptions;
  readonly #io: ConnectIo;
  readonly #http: ProxyHttp;
  #presenter: Presenter | undefined;

  constructor(opts: ConnectOptions, io: ConnectIo) {
    this.#opts = opts;
    this.#io = io;
    this.#http = new ProxyHttp(opts.proxy);
  }

  warn(line: string): void {
    this.#io.stderr.write(`ztproxy connect: ${printable(line)}\n`);
  }

  /** The posture header's name is asked of the proxy only when there is a posture to send. */
  async prepare(): Promise<void> {
    let header = this.#opts.postureHeader ?? DEFAULT_POSTURE_HEADER;
    if (this.#opts.postureHeader === undefined && (this.#opts.postureFile !== undefined || this.#opts.postureCommand !== undefined)) {
      header = await this.#http.postureHeader();
    }
    this.#presenter = new Presenter(this.#opts, header, (l) => this.warn(l));
  }

  /** Opens one tunnel with fresh credentials, and keeps it renewed while it is open. */
  async open(): Promise<{ tunnel: OpenTunnel; renewal: StreamRenewal; lapsed: () => boolean }> {
    const presenter = this.#presenter!;
    const token: Credential | undefined = await presenter.token();
    const posture: Credential | undefined = presenter.posture === undefined ? undefined : await presenter.posture();
    const tunnel = await openTunnel(this.#opts.proxy, this.#opts.target.authority, {
      ...(token === undefined ? {} : { token: token.value }),
      ...(posture === undefined ? {} : { posture: posture.value }),
      postureHeader: presenter.postureHeader,
    });
    const renewal = new StreamRenewal(
      tunnel.streamId,
      { token, posture },
      {
        token: presenter.token,
        posture: presenter.posture,
        postureHeader: presenter.postureHeader,
        send: (id, t, p) => this.#http.renew(id, t, p),
        warn: (l) => this.warn(l),
      },
    );
    renewal.start();
    let lapsed = false;
    tunnel.socket.once('close', () => {
      lapsed = renewal.closed();
    });
    return { tunnel, renewal, lapsed: () => lapsed };
  }

  /** Prints why a tunnel could not be opened; true if it was a refusal or known failure. */
  report(err: unknown): boolean {
    if (err instanceof TunnelRefused) {
      for (const line of refusalLines(err, this.#opts.target, this.#opts.proxy.url.origin, this.#opts.tokenFile !== undefined)) this.warn(line);
      return true;
    }
    if (err instanceof TunnelUnreachable || err instanceof SourceError || err instanceof ProxyHttpError) {
      this.warn(err.message);
      if (err instanceof TunnelUnreachable && err.handshakeRefused) {
        this.warn(
          this.#opts.proxy.cert === undefined
            ? 'the proxy closed the connection before answering: does it require a client certificate (--cert FILE --key FILE)?'
            : 'the proxy refused the TLS handshake: is the client certificate issued by its CA, unexpired and not revoked?',
        );
      }
      return true;
    }
    return false;
  }

  close(): Promise<void> {
    return this.#http.close();
  }
}

/** stdin → tunnel, tunnel → stdout; resolves with the exit code when the tunnel ends. */
function relayStdio(socket: Duplex, io: ConnectIo, warn: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    let code = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      io.stdin.unpipe(socket);
      // Our stdin may stay open (ssh holds it until it exits): stop reading it so the
      // process can end.
      io.stdin.destroy();
      // Resolved once the socket has closed, so its close handlers (the renewal's) ran.
      if (socket.closed) resolve(code);
      else {
        socket.once('close', () => resolve(code));
        socket.destroy();
      }
    };
    socket.on('data', (chunk: Buffer) => {
      if (!io.stdout.write(chunk)) {
        socket.pause();
        io.stdout.once('drain', () => socket.resume());
      }
    });
    // The service ended the stream (or the proxy closed it: revoked, expired, reloaded):
    // the tunnel is over once what it sent has been written out.
    socket.once('end', () => io.stdout.write('', finish));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      code = 1;
      warn(`the tunnel broke: ${err.message}${err.code === undefined ? '' : ` (${err.code})`}`);
      finish();
    });
    socket.once('close', finish);
    io.stdout.once('error', () => finish());
    // stdin's end half-closes the tunnel (the service still answers what it got, as with
    // a TCP FIN); the tunnel ends when the service ends its side.
    io.stdin.pipe(socket);
  });
}

async function runStdio(connector: Connector, io: ConnectIo): Promise<number> {
  let opened;
  try {
    opened = await connector.open();
  } catch (err) {
    if (connector.report(err)) return 1;
    throw err;
  }
  const code = await relayStdio(opened.tunnel.socket, io, (l) => connector.warn(l));
  // Cut by the proxy because its credentials expired unrenewed: not a clean end.
  return opened.lapsed() ? 1 : code;
}

/** Relays one accepted local connection through its own tunnel. */
async function serveConnection(connector: Connector, client: Socket, open: Set<Socket>): Promise<void> {
  open.add(client);
  client.once('close', () => open.delete(client));
  // Bytes the local client sends before the tunnel stands wait in its socket.
  client.pause();
  client.on('error', () => client.destroy());
  let opened;
  try {
    opened = await connector.open();
  } catch (err) {
    if (!connector.report(err)) connector.warn(`cannot open a tunnel: ${(err as Error).message}`);
    client.destroy();
    return;
  }
  const tunnel = opened.tunnel.socket;
  if (client.destroyed) {
    tunnel.destroy();
    return;
  }
  tunnel.on('error', () => client.destroy());
  client.on('error', () => tunnel.destroy());
  tunnel.once('close', () => client.destroy());
  client.once('close', () => tunnel.destroy());
  // pipe() keeps backpressure both ways and passes each side's end on as a half-close.
  client.pipe(tunnel);
  tunnel.pipe(client);
  client.resume();
}

async function runListen(connector: Connector, listen: HostPort, opts: ConnectOptions, io: ConnectIo, signal: AbortSignal | undefined): Promise<number> {
  if (!isLoopback(listen.host)) {
    connector.warn(`warning: listening on ${listen.authority}, not on loopback: whoever can reach it uses the tunnel with your identity`);
  }
  const open = new Set<Socket>();
  // allowHalfOpen: a client's FIN is passed on through the tunnel while the answer still
  // flows back (a database client that ends its request stream waits for the reply).
  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => void serveConnection(connector, client, open));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    connector.warn(`cannot listen on ${listen.authority}: ${(err as Error).message}`);
    return 1;
  }
  const address = server.address() as { address: string; port: number };
  const shown = isIP(address.address) === 6 ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
  io.stderr.write(`ztproxy connect: listening on ${shown}, each connection tunnelled to ${opts.target.authority} via ${opts.proxy.url.origin}\n`);
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve(0));
      for (const socket of open) socket.destroy();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
}

/** `ztproxy connect …`: the exit code (0 the tunnel ended, 1 refused or failed, 2 usage). */
export async function runConnect(argv: string[], io: ConnectIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }, signal?: AbortSignal): Promise<number> {
  let opts: ConnectOptions;
  try {
    opts = await parseOptions(argv);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`ztproxy connect: ${(err as Error).message}\n${CONNECT_USAGE}`);
      return 2;
    }
    if (err instanceof SourceError) {
      io.stderr.write(`ztproxy connect: ${printable(err.message)}\n`);
      return 1;
    }
    throw err;
  }
  const connector = new Connector(opts, io);
  try {
    try {
      await connector.prepare();
    } catch (err) {
      if (connector.report(err)) return 1;
      throw err;
    }
    return opts.listen === undefined ? await runStdio(connector, io) : await runListen(connector, opts.listen, opts, io, signal);
  } finally {
    await connector.close();
  }
}
