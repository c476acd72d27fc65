// `sourceIp: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7]` — the client address is in one
// of the CIDRs (a bare address is a /32 or /128). Network location grants nothing on
// its own in Zero Trust; this narrows an allow or feeds a deny, next to identity.
//
// A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6 (`::ffff:10.1.2.3`);
// node:net's BlockList treats those as the IPv4 address, so a deny on 10.0.0.0/8 cannot
// be sidestepped by the address family (tested). An input that is not an IP address is
// an error, not a non-match: under `not` or in a deny block a non-match would admit it.
import { BlockList, isIP } from '../../basics/ip.ts';
import { z } from 'zod';
import { PolicyInputError, type Criterion, type Matcher } from '../criterion.ts';
import type { PolicyInput } from '../types.ts';

interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) {
    return `${JSON.stringify(address)} is not an IP address; expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or an address`;
  }
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(digits) || Number(digits) > max) {
      return `prefix length must be a number from 0 to ${max}`;
    }
    prefix = Number(digits);
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

const cidr = z.string().superRefine((value, ctx) => {
  const parsed = parseCidr(value);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});
const schema = z.array(cidr).min(1, { error: 'list at least one CIDR or address' });

/**
 * A canonical dotted quad (`10.1.2.3`: four decimal parts 0-255, no leading zeros — the
 * spelling isIPv4 accepts and the one the socket and sanitation produce) as an unsigned
 * 32-bit number; -1 for anything else, which takes the general path.
 */
function ipv4Number(ip: string): number {
  const n = ip.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      // A leading zero ("010") is not canonical: isIPv4 refuses it, so must this.
      if (digits === 1 && part === 0) return -1;
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + part;
}

class SourceIpMatcher implements Matcher {
  readonly #list = new BlockList();
  readonly #shown: string;
  /**
   * The IPv4 CIDRs as [network, size] pairs, compared in JS: a BlockList.check is a
   * C++ call that parses the address again for every rule (~90 ns, the costliest
   * criterion at 10,000 rules; bench/micro/policy-decision.ts). Undefined when an entry
   * is IPv6: BlockList alone then decides, mapped addresses and all.
   */
  readonly #ipv4: Float64Array | undefined;
  constructor(entries: readonly string[]) {
    const ipv4: number[] = [];
    let onlyIpv4 = true;
    for (const entry of entries) {
      const parsed = parseCidr(entry);
      if (typeof parsed === 'string') throw new TypeError(`sourceIp ${entry}: ${parsed} (config not validated by policySchema)`);
      this.#list.addSubnet(parsed.address, parsed.prefix, parsed.family);
      const address = parsed.family === 'ipv4' ? ipv4Number(parsed.address) : -1;
      if (address < 0) {
        onlyIpv4 = false;
        continue;
      }
      const size = 2 ** (32 - parsed.prefix);
      ipv4.push(address - (address % size), size);
    }
    this.#ipv4 = onlyIpv4 ? Float64Array.from(ipv4) : undefined;
    this.#shown = entries.join(', ');
  }
  matches(input: PolicyInput): boolean {
    const ip = input.sourceIp;
    const cidrs = this.#ipv4;
    if (cidrs !== undefined) {
      const address = ipv4Number(ip);
      if (address >= 0) {
        for (let i = 0; i < cidrs.length; i += 2) if (address - cidrs[i]! >= 0 && address - cidrs[i]! < cidrs[i + 1]!) return true;
        return false;
      }
    }
    // A link-local peer may carry a zone (`fe80::1%eth0`): isIP and BlockList accept it
    // and match on the address (tested).
    const version = isIP(ip);
    if (version === 0) throw new PolicyInputError(`sourceIp ${JSON.stringify(input.sourceIp)} is not an IP address`);
    return this.#list.check(ip, version === 4 ? 'ipv4' : 'ipv6');
  }
  describe(input: PolicyInput, matched: boolean): string {
    return `sourceIp ${input.sourceIp} is ${matched ? '' : 'not '}in ${this.#shown}`;
  }
}

export const sourceIp: Criterion<typeof schema> = {
  schema,
  compile: (value) => new SourceIpMatcher(value),
};
