// The policy block of a route (SPEC §7) as a zod schema: embedded by the config schema
// at `routes[].policy`, turned into config/schema.json, and the only gate a policy
// passes before compilePolicy. Every value shape is checked here, all at once, so one
// `ztproxy check` lists every mistake with its path.
import { z } from 'zod';
import { criteria, type Criteria } from './criteria/registry.ts';
import { objectError, oneOrList, presentKeys, whenObjectParsed } from './schema-helpers.ts';

export const COMBINATOR_KEYS = ['and', 'or', 'not'] as const;
/** Every key a rule object may have; a rule has exactly one of them. */
export const RULE_KEYS: readonly string[] = [...COMBINATOR_KEYS, ...Object.keys(criteria)];

/** One rule: a combinator or a criterion (exactly one key is set). */
export type Rule = {
  and?: Rule[] | undefined;
  or?: Rule[] | undefined;
  not?: Rule | undefined;
} & { [K in keyof Criteria]?: z.output<Criteria[K]['schema']> | undefined };

type CriteriaShape = { [K in keyof Criteria]: z.ZodOptional<Criteria[K]['schema']> };
const criteriaShape = Object.fromEntries(
  Object.entries(criteria).map(([key, criterion]) => [key, criterion.schema.optional()]),
) as CriteriaShape;

// An empty `and` would be vacuously true (allow everything), an empty `or` never true:
// both are mistakes, and the first one is dangerous.
const ruleList = (combinator: string) =>
  z.array(ruleSchema).min(1, { error: `${combinator} needs at least one rule` });

export const ruleSchema: z.ZodType<Rule> = z
  .strictObject(
    {
      ...criteriaShape,
      get and() {
        return ruleList('and').optional();
      },
      get or() {
        return ruleList('or').optional();
      },
      get not() {
        return ruleSchema.optional();
      },
    },
    { error: objectError('a rule', `exactly one of: ${RULE_KEYS.join(', ')}`) },
  )
  .superRefine((value, ctx) => {
    const present = presentKeys(value, RULE_KEYS);
    if (present.length === 0) {
      ctx.addIssue({ code: 'custom', message: `a rule needs exactly one of: ${RULE_KEYS.join(', ')}` });
    } else if (present.length > 1) {
      ctx.addIssue({
        code: 'custom',
        message: `a rule has exactly one key, this one has ${present.join(', ')}; to require all of them write and: [...] with one rule each`,
      });
    }
  }, whenObjectParsed)
  .meta({
    description: `A policy rule: exactly one of ${RULE_KEYS.join(', ')}.`,
    minProperties: 1,
    maxProperties: 1,
  });

const ruleOrList = oneOrList(ruleSchema, 'a rule or a list of rules (any of them)');

export const policySchema = z
  .strictObject(
    {
      allow: ruleOrList.optional(),
      deny: ruleOrList.optional(),
    },
    { error: objectError('a policy', 'allow and/or deny') },
  )
  .meta({
    description:
      'Embedded policy. deny overrides allow; a request no allow rule matches is denied. A list means any of its rules.',
  });

export type PolicyConfig = z.output<typeof policySchema>;
