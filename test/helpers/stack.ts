// One proxy stack for a test file (or a describe): the shared test PKI, an upstream that
// records what reaches it, and ztproxy in front of it on TLS — started before all tests,
// its upstream's record cleared before each, everything closed after. The login-flow
// equivalent (with an OpenID Provider) is useLoginStack in ./oidc.ts.
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { makeTestPki, type TestPki } from './pki.ts';
import { startTestProxy, type TestProxy } from './proxy.ts';
import { startUpstream, type TestUpstream } from './upstream.ts';

/** What the stack needs of an upstream: the recording one (./upstream.ts) or a raw one. */
export interface StackUpstream {
  readonly url: string;
  reset(): void;
  close(): Promise<void>;
}

export interface ProxyStack<U extends StackUpstream = TestUpstream> {
  readonly pki: TestPki;
  readonly upstream: U;
  readonly proxy: TestProxy;
}

export interface ProxyStackOptions<U extends StackUpstream> {
  /** Starts the upstream (default: `startUpstream()`). */
  upstream?: () => Promise<U>;
}

/** `listen.tls` for the test PKI's server certificate (localhost, 127.0.0.1, ::1). */
export function serverTls(pki: TestPki): { cert: string; key: string } {
  return { cert: pki.server.certPath, key: pki.server.keyPath };
}

/** What `config` receives: the PKI, the started upstream, and ways to add to the stack. */
export interface StackParts<U extends StackUpstream> {
  readonly pki: TestPki;
  readonly upstream: U;
  /** Runs `close` after the proxy and the upstream are closed (extra upstreams, JWKS files). */
  readonly onClose: (close: () => unknown) => void;
  /**
   * Starts another ztproxy beside the stack's (same `listen.tls` default), for tests that
   * compare two configs on one upstream; it is closed together with the stack's proxy.
   */
  readonly startProxy: (config: Record<string, unknown>) => Promise<TestProxy>;
}

/**
 * Registers the hooks of one proxy stack and returns it; its fields can be read once the
 * beforeAll has run (in tests and later hooks). `config` builds the proxy's config from
 * the PKI and the started upstream; `listen.tls` defaults to serverTls(pki) when the
 * config's `listen` has no `tls`. After all tests: the proxies, then the upstream, then what
 * `onClose` registered, then the PKI (a later makeTestPki() builds a fresh set) — also
 * when the start failed half-way. The PKI is shared by the whole test process, so call it
 * at the top of a file, not in a describe whose siblings keep using the same PKI object.
 */
export function useProxyStack<U extends StackUpstream = TestUpstream>(
  config: (s: StackParts<U>) => Record<string, unknown> | Promise<Record<string, unknown>>,
  opts: ProxyStackOptions<U> = {},
): ProxyStack<U> {
  let pki: TestPki | undefined;
  let upstream: U | undefined;
  let proxy: TestProxy | undefined;
  const closers: (() => unknown)[] = [];
  const others: TestProxy[] = [];
  const start = (c: Record<string, unknown>, tls: { cert: string; key: string }): Promise<TestProxy> =>
    startTestProxy({ ...c, listen: { tls, ...(c.listen as Record<string, unknown> | undefined) } });
  beforeAll(async () => {
    pki = await makeTestPki();
    const tls = serverTls(pki);
    upstream = await (opts.upstream ?? (startUpstream as unknown as () => Promise<U>))();
    const startProxy = async (c: Record<string, unknown>): Promise<TestProxy> => {
      const other = await start(c, tls);
      others.push(other);
      return other;
    };
    proxy = await start(await config({ pki, upstream, onClose: (close) => closers.push(close), startProxy }), tls);
  });
  afterAll(async () => {
    await Promise.all([proxy?.close(), ...others.splice(0).map((o) => o.close())]);
    await upstream?.close();
    for (const close of closers.splice(0)) await close();
    await pki?.cleanup();
  });
  beforeEach(() => upstream?.reset());
  const started = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) throw new Error(`useProxyStack: ${name} read before the stack's beforeAll started it`);
    return value;
  };
  return {
    get pki() {
      return started(pki, 'pki');
    },
    get upstream() {
      return started(upstream, 'upstream');
    },
    get proxy() {
      return started(proxy, 'proxy');
    },
  };
}
