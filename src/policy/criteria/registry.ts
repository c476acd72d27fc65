// Every criterion a rule may use, by the key it is written under. Adding a criterion is
// one file in this folder and one line here: the rule schema, the JSON Schema, the
// compiler and the "exactly one key" message all read this table.
import { accept } from './accept.ts';
import { host } from './host.ts';
import { method } from './method.ts';
import { path } from './path.ts';
import { sourceIp } from './source-ip.ts';
import { spiffe } from './spiffe.ts';
import { time } from './time.ts';

export const criteria = {
  accept,
  spiffe,
  method,
  path,
  host,
  sourceIp,
  time,
} as const;

export type Criteria = typeof criteria;
export type CriterionKey = keyof Criteria;
