// The pure part of the handshake benchmark (bench/handshake.ts): what a measured case
// is, the ratios of the issue's target table computed from the measured numbers (and
// refused where a case did not measure what it says), the targets, and the parser of
// `openssl speed`. Kept apart from the measuring so that tests can feed it numbers.
import type { KeyType } from '../../src/tls/pki.ts';
import type { ServerCheck } from './handshake-client.ts';
import { target, type TargetResult } from './part.ts';

/** A client using ≥ this share of its core was (close to) the bottleneck. */
export const SATURATED_PERCENT = 90;
/** Below this share of reused sessions a "resumed" case did not measure resumption. */
export const MIN_RESUMED_SHARE = 0.99;

export const KEY_LABEL: Record<KeyType, string> = { ec: 'P-256', rsa: 'RSA-2048' };
export type Kind = 'full' | 'resumed' | 'mtls';
export const KIND_LABEL: Record<Kind, string> = { full: 'TLS 1.3 full', resumed: 'TLS 1.3 resumed', mtls: 'mTLS full' };
export const KINDS: readonly Kind[] = ['full', 'resumed', 'mtls'];

const orNull = (n: number): number | null => (Number.isFinite(n) ? n : null);


export interface CaseId {
  readonly keyType: KeyType;
  readonly server: 'ztproxy' | 'nginx' | 'node';
  readonly kind: Kind;
}

export interface CaseSummary extends CaseId {
  readonly rate: number;
  readonly sutPercent: number;
  /** The server's CPU % with no client connecting (background work), or null if unread. */
  readonly sutIdlePercent: number | null;
  /** µs of server CPU per new connection (median of the rounds). */
  readonly sutUsPerHandshake: number;
  /** 1e6 / sutUsPerHandshake: what one fully busy server core would complete. */
  readonly perSutCpuSecond: number;
  readonly clientPercent: number;
  readonly clientSaturated: boolean;
  readonly resumedShare: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly handshakes: number;
  readonly serverOk: number | null;
  readonly serverErrors: number | null;
  readonly latency: { p50: number; p90: number; p99: number; max: number; n: number; reusedShare: number; errors: number; rate: number } | undefined;
}


export interface CheckRow {
  readonly keyType: KeyType;
  readonly server: string;
  readonly serverOnly: ServerCheck;
  readonly mtlsWithCert: ServerCheck;
  readonly mtlsWithoutCert: ServerCheck;
  /** The mTLS listener answered with the certificate and refused without it. */
  readonly mtlsVerified: boolean;
}


export interface Ratio {
  readonly name: string;
  readonly keyType: KeyType;
  /** From handshakes per second as measured (the client may have set the pace). */
  readonly byRate: number | null;
  /** From the server's CPU per handshake: what one busy server core would do. */
  readonly byCpu: number | null;
  /** Why the ratio cannot be trusted or computed, if so. */
  readonly invalid?: string;
}

/** A case whose numbers do not measure what it says (not resumed, certificates refused, errors). */
function caseProblem(s: CaseSummary | undefined, checks: Map<string, CheckRow>): string | undefined {
  if (!s) return 'not measured';
  if (s.handshakes === 0) return `no handshake completed${s.firstError ? ` (${s.firstError})` : ''}`;
  if (s.kind === 'resumed' && s.resumedShare < MIN_RESUMED_SHARE) return `only ${(100 * s.resumedShare).toFixed(1)} % of "resumed" handshakes resumed`;
  if (s.errors > 0) return `${s.errors} handshakes failed (${s.firstError})`;
  if (s.serverErrors !== null && s.serverErrors > 0) return `the server counted ${s.serverErrors} failed handshakes`;
  const check = checks.get(`${s.keyType}/${s.server}`);
  if (s.kind === 'mtls' && check && !check.mtlsVerified) return 'the mTLS listener was not shown to require and accept the client certificate';
  return undefined;
}

/** Ratios of the target table, from the summaries; each names what makes it invalid. */
export function computeRatios(summaries: readonly CaseSummary[], checks: Map<string, CheckRow>, keyTypes: readonly KeyType[]): Ratio[] {
  const find = (keyType: KeyType, server: string, kind: Kind) => summaries.find((s) => s.keyType === keyType && s.server === server && s.kind === kind);
  const ratio = (name: string, keyType: KeyType, num: CaseSummary | undefined, den: CaseSummary | undefined): Ratio => {
    const invalid = caseProblem(num, checks) ?? caseProblem(den, checks);
    if (invalid || !num || !den) return { name, keyType, byRate: null, byCpu: null, invalid: invalid ?? 'not measured' };
    return {
      name,
      keyType,
      byRate: orNull(num.rate / den.rate),
      // Handshakes per server CPU-second, numerator over denominator.
      byCpu: orNull(den.sutUsPerHandshake / num.sutUsPerHandshake),
    };
  };
  const out: Ratio[] = [];
  for (const k of keyTypes) {
    out.push(ratio('full TLS 1.3 handshakes ÷ nginx', k, find(k, 'ztproxy', 'full'), find(k, 'nginx', 'full')));
    out.push(ratio('resumed ÷ full (ztproxy)', k, find(k, 'ztproxy', 'resumed'), find(k, 'ztproxy', 'full')));
    out.push(ratio('mTLS ÷ server-only (ztproxy)', k, find(k, 'ztproxy', 'mtls'), find(k, 'ztproxy', 'full')));
    out.push(ratio('resumed ÷ full (nginx)', k, find(k, 'nginx', 'resumed'), find(k, 'nginx', 'full')));
    out.push(ratio('mTLS ÷ server-only (nginx)', k, find(k, 'nginx', 'mtls'), find(k, 'nginx', 'full')));
    out.push(ratio('resumed ÷ full (bare Node)', k, find(k, 'node', 'resumed'), find(k, 'node', 'full')));
    out.push(ratio('mTLS ÷ server-only (bare Node)', k, find(k, 'node', 'mtls'), find(k, 'node', 'full')));
    // What ztproxy adds to Node's own handshake: 1.0 = nothing.
    for (const kind of KINDS) out.push(ratio(`ztproxy ÷ bare Node, ${KIND_LABEL[kind]}`, k, find(k, 'ztproxy', kind), find(k, 'node', kind)));
  }
  return out;
}

/**
 * The issue's three handshake targets, on P-256 (the dev PKI's default and the key the
 * first target names), from the server-CPU ratio: on two cores the client (which verifies
 * a signature and does a key exchange per connection, in JS-driven Node) often reaches its
 * core's limit before nginx does, and then the rate ratio measures the client.
 */
export function handshakeTargets(ratios: readonly Ratio[], nginxSkipped: string | undefined): TargetResult[] {
  const pick = (name: string) => ratios.find((r) => r.name === name && r.keyType === 'ec');
  const t = (row: string, name: string, goal: number) => {
    const r = pick(name);
    // Without nginx its cases were never run: say why, not merely "not measured".
    const skipped = name.includes('nginx') ? nginxSkipped : undefined;
    return target(row, r?.byCpu ?? null, '>=', goal, { why: skipped ?? r?.invalid ?? 'not measured' });
  };
  return [
    t('full TLS 1.3 handshakes ÷ nginx (P-256)', 'full TLS 1.3 handshakes ÷ nginx', 0.7),
    t('resumed ÷ full (ztproxy)', 'resumed ÷ full (ztproxy)', 2.0),
    t('mTLS ÷ server-only (ztproxy)', 'mTLS ÷ server-only (ztproxy)', 0.75),
  ];
}


export interface SpeedRow {
  readonly algorithm: string;
  readonly signPerSec: number | null;
  readonly verifyPerSec: number | null;
  /** Key agreements per second (ECDH). */
  readonly opsPerSec: number | null;
}

/** The result lines of `openssl speed` (3.x layout). */
export function parseOpensslSpeed(text: string): SpeedRow[] {
  const rows: SpeedRow[] = [];
  for (const line of text.split('\n')) {
    let m = /^rsa\s+(\d+) bits\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)/.exec(line);
    if (m) {
      rows.push({ algorithm: `RSA-${m[1]}`, signPerSec: Number(m[2]), verifyPerSec: Number(m[3]), opsPerSec: null });
      continue;
    }
    m = /^\s*\d+ bits ecdsa \((\w+)\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)/.exec(line);
    if (m) {
      rows.push({ algorithm: `ECDSA ${m[1] === 'nistp256' ? 'P-256' : m[1]}`, signPerSec: Number(m[2]), verifyPerSec: Number(m[3]), opsPerSec: null });
      continue;
    }
    m = /^\s*\d+ bits ecdh \((\w+)\)\s+\S+s\s+([\d.]+)/.exec(line);
    if (m) rows.push({ algorithm: `ECDH ${m[1] === 'nistp256' ? 'P-256' : m[1]}`, signPerSec: null, verifyPerSec: null, opsPerSec: Number(m[2]) });
  }
  return rows;
}

