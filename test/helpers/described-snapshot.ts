// The snapshot `ztproxy check --tests` and `explain` judge described requests with, built
// from the same config a test's running proxy got (its routes, the stack's server
// certificate as listener): the differential tests compare the two answers.
import { afterAll, beforeAll } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot, type AssembledSnapshot } from '../../src/assembly/snapshot.ts';
import { parseConfig } from '../../src/config/load.ts';
import { UpstreamRegistry } from '../../src/proxy/upstream.ts';
import { serverTls, type ProxyStack, type StackUpstream } from './stack.ts';

/** Builds the snapshot once the stack is up (`config()` is read then); its upstream pools are closed after the file. */
export function useDescribedSnapshot<U extends StackUpstream>(stack: ProxyStack<U>, config: () => Record<string, unknown>): { readonly snapshot: AssembledSnapshot } {
  const registry = new UpstreamRegistry();
  let snapshot: AssembledSnapshot | undefined;
  beforeAll(async () => {
    const listen = { address: '127.0.0.1:0', tls: serverTls(stack.pki) };
    const { config: parsed, errors } = parseConfig(stringify({ ...config(), listen }), '/');
    if (parsed === undefined || errors.length > 0) throw new Error(`config: ${errors.join('; ')}`);
    snapshot = await buildSnapshot(parsed, 1, registry);
  });
  afterAll(() => registry.destroyAll());
  return {
    get snapshot(): AssembledSnapshot {
      if (snapshot === undefined) throw new Error('the described snapshot is built in beforeAll');
      return snapshot;
    },
  };
}
