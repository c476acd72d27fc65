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

class SourceIpMatcher implements Matcher {
  readonly #list = new BlockList();
  readonly #shown: string;
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const parsed = parseCidr(entry);
      if (typeof parsed === 'string') throw new TypeError(`sourceIp ${entry}: ${parsed} (config not validated by policySchema)`);
      this.#list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    this.#shown = entries.join(', ');
  }
  matches(input: PolicyInput): boolean {
    // A link-local peer may carry a zone (`fe80::1%eth0`): isIP and BlockList accept it
    // and match on the address (tested).
    const ip = input.sourceIp;
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
