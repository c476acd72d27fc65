// The remote PDPs of the running config, one per distinct settings: like the upstream
// pools (../proxy/upstream.ts), a PDP whose settings a reload does not change keeps its
// keep-alive pool, its decision cache and its breaker; one no snapshot uses any more is
// closed gracefully (evaluations in flight finish).
import type { RemotePdpSettings } from '../config/pdp.ts';
import { NO_TELEMETRY, RemotePdp, pdpLabel, type PdpTelemetry } from './remote-pdp.ts';

export class PdpRegistry {
  readonly #telemetry: (label: string) => PdpTelemetry;
  #live = new Map<string, RemotePdp>();
  /** Built for a snapshot not swapped in yet: shared by its routes with the same settings. */
  #pending = new Map<string, RemotePdp>();

  constructor(telemetry: (label: string) => PdpTelemetry = () => NO_TELEMETRY) {
    this.#telemetry = telemetry;
  }

  acquire(settings: RemotePdpSettings): RemotePdp {
    const key = settingsKey(settings);
    const existing = this.#live.get(key) ?? this.#pending.get(key);
    if (existing) return existing;
    const created = new RemotePdp(settings, this.#telemetry(pdpLabel(settings)));
    this.#pending.set(key, created);
    return created;
  }

  /** After a snapshot swap: keep exactly the PDPs it uses, close the rest gracefully. */
  retain(pdps: Iterable<RemotePdp>): void {
    const next = new Map<string, RemotePdp>();
    for (const p of pdps) next.set(keyOf(p), p);
    for (const [key, p] of [...this.#live, ...this.#pending]) if (next.get(key) !== p) void p.close();
    this.#live = next;
    this.#pending = new Map();
  }

  /** Forget PDPs built for a snapshot that was never swapped in. */
  discard(pdps: Iterable<RemotePdp>): void {
    for (const p of pdps) {
      const key = keyOf(p);
      if (this.#live.get(key) === p) continue;
      if (this.#pending.get(key) === p) this.#pending.delete(key);
      void p.close();
    }
  }

  /** Why the proxy is not ready, if a PDP's breaker is open (in its cool-down); else undefined. */
  notReadyReason(): string | undefined {
    const open = [...this.#live.values()].filter((p) => p.breakerState() === 'open').map((p) => p.label);
    return open.length === 0 ? undefined : `pdp circuit open: ${[...new Set(open)].join(', ')}`;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.#live.values(), ...this.#pending.values()].map((p) => p.close()));
    this.#live.clear();
    this.#pending.clear();
  }
}

function settingsKey(s: RemotePdpSettings): string {
  return JSON.stringify([s.mode, s.url, s.timeout, s.cache.ttl, s.cache.max, s.breaker.failures, s.breaker.coolDown]);
}

const keyOf = (p: RemotePdp): string => settingsKey(p.settings);
