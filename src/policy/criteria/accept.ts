// `accept: true` — matches every request: a public route. Only `true` is accepted, so
// `accept: false` (which reads like "deny" but would merely never match) is a config error.
import { z } from 'zod';
import type { Criterion } from '../criterion.ts';

const schema = z.literal(true, { error: 'accept must be true (it marks a public route); to refuse requests use deny' });

const always = {
  matches: (): boolean => true,
  describe: (): string => 'accept matches every request',
};

export const accept: Criterion<typeof schema> = {
  schema,
  compile: () => always,
};
