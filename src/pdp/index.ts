// Remote policy decision points (SPEC §7): the NIST SP 800-207 policy engine outside
// the proxy — OPA's Data API or an OpenID AuthZEN 1.0 PDP — asked over HTTP with a
// timeout, behind a decision cache and a circuit breaker, failing closed. The documents
// sent are built by ../policy/remote-input.ts (pure, shared with `ztproxy explain`);
// this layer owns the sockets. The pipeline's authorization stage calls it; the
// assembly builds the PDPs of a snapshot through the PdpRegistry.
import type { RemotePdpSettings } from '../config/pdp.ts';
import { authzenDocument, opaDocument, type RemoteRoute } from '../policy/remote-input.ts';
import type { PolicyInput } from '../policy/index.ts';
import { pdpEndpoint } from './client.ts';

export { RemotePdp, NO_TELEMETRY, pdpLabel, type PdpAnswer, type PdpSource, type PdpTelemetry } from './remote-pdp.ts';
export { PdpRegistry } from './registry.ts';
export type { BreakerState } from './breaker.ts';
export { AUTHZEN_EVALUATION_PATH, MAX_ANSWER_BYTES, pdpEndpoint, type PdpErrorReason } from './client.ts';

/**
 * The request ztproxy would send to this PDP for this input on this route, without
 * sending it (for `ztproxy explain`): `body` undefined when it would not ask (an
 * anonymous request to an AuthZEN PDP, answered as needing a login).
 */
export function describePdpRequest(
  settings: Pick<RemotePdpSettings, 'mode' | 'url'>,
  input: PolicyInput,
  route: RemoteRoute,
): { method: 'POST'; url: string; body: Record<string, unknown> | undefined } {
  const body = settings.mode === 'opa' ? opaDocument(input, route) : authzenDocument(input, route);
  return { method: 'POST', url: pdpEndpoint(settings).href, body };
}
