// Every criterion a rule may use, by the key it is written under. Adding a criterion is
// one file in this folder and one line here: the rule schema, the JSON Schema, the
// compiler and the "exactly one key" message all read this table.
// The order is SPEC §7's and shows in messages ("exactly one of: ...").
import { accept } from './accept.ts';
import { authAge } from './auth-age.ts';
import { authenticated } from './authenticated.ts';
import { claim } from './claim.ts';
import { device } from './device.ts';
import { domain } from './domain.ts';
import { email } from './email.ts';
import { groups } from './groups.ts';
import { host } from './host.ts';
import { method } from './method.ts';
import { path } from './path.ts';
import { sourceIp } from './source-ip.ts';
import { spiffe } from './spiffe.ts';
import { time } from './time.ts';
import { user } from './user.ts';

export const criteria = {
  accept,
  authenticated,
  user,
  email,
  domain,
  groups,
  claim,
  spiffe,
  device,
  method,
  path,
  host,
  sourceIp,
  time,
  authAge,
} as const;

export type Criteria = typeof criteria;
export type CriterionKey = keyof Criteria;
