// The handshake benchmark (bench/handshake.ts) at its smallest size: it runs against real
// ztproxy, nginx and bare Node processes, prints a PartResult that parses, its "resumed"
// cases really resumed and its mTLS listeners really required the certificate, and its
// ratios and targets are computed from the numbers it measured. No timing is asserted.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { computeRatios, handshakeTargets, parseOpensslSpeed, type CaseSummary, type CheckRow, type Ratio } from '../../bench/lib/handshake-report.ts';
import { findNginx } from '../../bench/lib/nginx.ts';
import { parsePart } from '../../bench/lib/part.ts';

interface Raw {
  readonly summaries: CaseSummary[];
  readonly ratios: Ratio[];
  readonly checks: CheckRow[];
}

describe('bench/handshake.ts --tiny', () => {
  it('measures every case, verifies resumption and mTLS, and computes its targets from what it measured', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bench/handshake.ts', '--tiny', '--json'], {
      env: { ...process.env, HANDSHAKE_KEY_TYPES: 'ec' },
      maxBuffer: 16 << 20,
      timeout: 50_000,
    });
    const part = parsePart(stdout);
    expect(part.name).toBe('handshake');
    expect(part.tables.map((t) => t.title)).toContain('New TLS connections per second (capacity)');
    const raw = part.raw as Raw;
    const servers = findNginx() ? ['ztproxy', 'nginx', 'node'] : ['ztproxy', 'node'];
    expect(raw.summaries).toHaveLength(servers.length * 3);

    for (const s of raw.summaries) {
      expect(s.handshakes, `${s.server} ${s.kind}`).toBeGreaterThan(0);
      expect(s.errors, `${s.server} ${s.kind}: ${s.firstError}`).toBe(0);
      // Resumed means every handshake resumed; full and mTLS mean none did.
      expect(s.resumedShare, `${s.server} ${s.kind}`).toBe(s.kind === 'resumed' ? 1 : 0);
      expect(s.latency?.reusedShare, `${s.server} ${s.kind} latency`).toBe(s.kind === 'resumed' ? 1 : 0);
    }
    const zt = raw.summaries.filter((s) => s.server === 'ztproxy');
    // ztproxy's own counter saw no failed handshake (a refused client certificate would be one).
    for (const s of zt) expect(s.serverErrors, s.kind).toBe(0);
    for (const c of raw.checks) {
      expect(c.serverOnly.protocol, c.server).toBe('TLSv1.3');
      expect(c.serverOnly.chainValid, c.server).toBe(true);
      expect(c.mtlsVerified, `${c.server}: with cert ${c.mtlsWithCert.status}, without ${c.mtlsWithoutCert.status ?? c.mtlsWithoutCert.error}`).toBe(true);
    }

    // The target is the ratio of the measured server CPU per handshake, and met follows from it.
    const full = zt.find((s) => s.kind === 'full')!;
    const resumed = zt.find((s) => s.kind === 'resumed')!;
    const resumedTarget = part.targets!.find((t) => t.name === 'resumed ÷ full (ztproxy)')!;
    expect(resumedTarget.value).toBeCloseTo(full.sutUsPerHandshake / resumed.sutUsPerHandshake, 6);
    expect(part.targets).toHaveLength(3);
    for (const t of part.targets!) {
      if (t.value === null) expect(t.met, t.name).toBeUndefined();
      else expect(t.met, t.name).toBe(t.comparison === '>=' ? t.value >= t.target : t.value <= t.target);
    }
    const nginxTarget = part.targets!.find((t) => t.name.includes('nginx'))!;
    if (!findNginx()) expect(nginxTarget.why).toMatch(/nginx/);
    for (const chart of part.charts ?? []) for (const series of chart.series) expect(series.values).toHaveLength(chart.groups.length);
  }, 60_000);
});

const summary = (over: Partial<CaseSummary> & Pick<CaseSummary, 'server' | 'kind'>): CaseSummary => ({
  keyType: 'ec',
  rate: 1000,
  sutPercent: 50,
  sutIdlePercent: 0.1,
  sutUsPerHandshake: 400,
  perSutCpuSecond: 2500,
  clientPercent: 50,
  clientSaturated: false,
  resumedShare: over.kind === 'resumed' ? 1 : 0,
  errors: 0,
  firstError: undefined,
  handshakes: 1000,
  serverOk: null,
  serverErrors: null,
  latency: undefined,
  ...over,
});

describe('handshake ratios and targets', () => {
  const checks = new Map<string, CheckRow>();
  it('divides the measured server CPU per handshake, and the rate separately', () => {
    const ratios = computeRatios(
      [
        summary({ server: 'ztproxy', kind: 'full', sutUsPerHandshake: 500, rate: 900 }),
        summary({ server: 'nginx', kind: 'full', sutUsPerHandshake: 250, rate: 1800 }),
        summary({ server: 'ztproxy', kind: 'resumed', sutUsPerHandshake: 200, rate: 1800 }),
        summary({ server: 'ztproxy', kind: 'mtls', sutUsPerHandshake: 1000, rate: 450 }),
      ],
      checks,
      ['ec'],
    );
    const byName = (n: string) => ratios.find((r) => r.name === n)!;
    expect(byName('full TLS 1.3 handshakes ÷ nginx').byCpu).toBe(0.5);
    expect(byName('full TLS 1.3 handshakes ÷ nginx').byRate).toBe(0.5);
    expect(byName('resumed ÷ full (ztproxy)').byCpu).toBe(2.5);
    expect(byName('mTLS ÷ server-only (ztproxy)').byCpu).toBe(0.5);
    const targets = handshakeTargets(ratios, undefined);
    expect(targets.map((t) => [t.value, t.met])).toEqual([[0.5, false], [2.5, true], [0.5, false]]);
  });

  it('refuses a "resumed" ratio when the sessions were not resumed, and says why', () => {
    const ratios = computeRatios(
      [summary({ server: 'ztproxy', kind: 'full' }), summary({ server: 'ztproxy', kind: 'resumed', resumedShare: 0.5, sutUsPerHandshake: 100 })],
      checks,
      ['ec'],
    );
    const t = handshakeTargets(ratios, 'nginx is not installed').find((x) => x.name === 'resumed ÷ full (ztproxy)')!;
    expect(t.value).toBeNull();
    expect(t.met).toBeUndefined();
    expect(t.why).toMatch(/50\.0 % of "resumed"/);
  });

  it('says nginx was not installed, rather than "not measured", when it was not', () => {
    const ratios = computeRatios([summary({ server: 'ztproxy', kind: 'full' })], checks, ['ec']);
    const t = handshakeTargets(ratios, 'nginx is not installed (apt-get install nginx-light)')[0]!;
    expect([t.value, t.met, t.why]).toEqual([null, undefined, 'nginx is not installed (apt-get install nginx-light)']);
  });

  it('refuses an mTLS ratio when the listener was not shown to require the certificate', () => {
    const failed = { chainValid: true, protocol: 'TLSv1.3', cipher: '', group: undefined, serverKey: '', status: 200 };
    const check: CheckRow = { keyType: 'ec', server: 'ztproxy', serverOnly: failed, mtlsWithCert: failed, mtlsWithoutCert: failed, mtlsVerified: false };
    const ratios = computeRatios(
      [summary({ server: 'ztproxy', kind: 'full' }), summary({ server: 'ztproxy', kind: 'mtls' })],
      new Map([['ec/ztproxy', check]]),
      ['ec'],
    );
    expect(ratios.find((r) => r.name === 'mTLS ÷ server-only (ztproxy)')!.invalid).toMatch(/require/);
  });
});

describe('parseOpensslSpeed', () => {
  it('reads the signature and key agreement lines of OpenSSL 3', () => {
    const text = [
      '                  sign    verify    sign/s verify/s',
      'rsa 2048 bits 0.000271s 0.000016s   3689.6  63006.8',
      '                              sign    verify    sign/s verify/s',
      ' 256 bits ecdsa (nistp256)   0.0000s   0.0001s  54231.0  19955.6',
      '                              op      op/s',
      ' 256 bits ecdh (nistp256)   0.0000s  25464.1',
      ' 253 bits ecdh (X25519)   0.0000s  34241.5',
    ].join('\n');
    expect(parseOpensslSpeed(text)).toEqual([
      { algorithm: 'RSA-2048', signPerSec: 3689.6, verifyPerSec: 63006.8, opsPerSec: null },
      { algorithm: 'ECDSA P-256', signPerSec: 54231, verifyPerSec: 19955.6, opsPerSec: null },
      { algorithm: 'ECDH P-256', signPerSec: null, verifyPerSec: null, opsPerSec: 25464.1 },
      { algorithm: 'ECDH X25519', signPerSec: null, verifyPerSec: null, opsPerSec: 34241.5 },
    ]);
  });
});
