// sourceIp compares IPv4 addresses against IPv4-only CIDR lists in JS (a fast path for
// the 10,000-rule case); it must answer exactly as node:net's BlockList, which still
// decides every other input. Differential: random lists and addresses, the edges of
// each CIDR, and the spellings that must leave the fast path.
import { BlockList } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sourceIp } from '../../src/policy/criteria/source-ip.ts';
import { PolicyInputError } from '../../src/policy/criterion.ts';
import type { PolicyInput } from '../../src/policy/types.ts';
import { mulberry32 } from '../helpers/random.ts';

const OPTIONS = { caseInsensitivePaths: false };
const input = (ip: string) => ({ sourceIp: ip }) as PolicyInput;
const quad = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

function reference(entries: readonly string[], ip: string): boolean {
  const list = new BlockList();
  for (const e of entries) {
    const [address, prefix] = e.split('/');
    const v6 = address!.includes(':');
    list.addSubnet(address!, prefix === undefined ? (v6 ? 128 : 32) : Number(prefix), v6 ? 'ipv6' : 'ipv4');
  }
  return list.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4');
}

describe('sourceIp answers as BlockList', () => {
  it('on random IPv4 lists, at random addresses and at every edge of each CIDR', () => {
    const random = mulberry32(7);
    const u32 = () => Math.floor(random() * 2 ** 32);
    for (let round = 0; round < 300; round++) {
      const entries: string[] = [];
      const n = 1 + Math.floor(random() * 4);
      for (let i = 0; i < n; i++) {
        const prefix = Math.floor(random() * 33);
        entries.push(random() < 0.2 ? quad(u32()) : `${quad(u32())}/${prefix}`);
      }
      const matcher = sourceIp.compile(entries, OPTIONS);
      const probes = [0, 2 ** 32 - 1, u32(), u32(), u32()];
      for (const e of entries) {
        const [address, prefix = '32'] = e.split('/');
        const n32 = address!.split('.').reduce((a, p) => a * 256 + Number(p), 0);
        const size = 2 ** (32 - Number(prefix));
        const base = n32 - (n32 % size);
        for (const p of [base - 1, base, base + size - 1, base + size]) if (p >= 0 && p < 2 ** 32) probes.push(p);
      }
      for (const p of probes) expect(matcher.matches(input(quad(p))), `${entries.join(',')} ∋ ${quad(p)}`).toBe(reference(entries, quad(p)));
    }
  });

  it('with IPv6 entries in the list, mapped and plain addresses of both families', () => {
    const lists = [['10.0.0.0/8'], ['10.0.0.0/8', '2001:db8::/32'], ['::ffff:10.0.0.0/104'], ['0.0.0.0/0'], ['192.0.2.7']];
    const ips = ['10.1.2.3', '11.0.0.1', '::ffff:10.1.2.3', '2001:db8::1', '192.0.2.7', '192.0.2.8', '::1'];
    for (const entries of lists) {
      const matcher = sourceIp.compile(entries, OPTIONS);
      for (const ip of ips) expect(matcher.matches(input(ip)), `${entries.join(',')} ∋ ${ip}`).toBe(reference(entries, ip));
    }
  });

  it('an address that is not one is an error, not a non-match (fast path or not)', () => {
    const matcher = sourceIp.compile(['10.0.0.0/8'], OPTIONS);
    for (const bad of ['010.0.0.1', '10.0.0', '10.0.0.256', '10.0.0.1.', ' 10.0.0.1', '10.0.0.-1', '', 'localhost', '1e1.0.0.1']) {
      expect(() => matcher.matches(input(bad)), bad).toThrow(PolicyInputError);
    }
  });
});
