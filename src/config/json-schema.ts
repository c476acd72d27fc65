// config/schema.json is generated from the code's own schema (never written by hand),
// so editors can validate ztproxy.yaml and the file can never drift: a test compares it.
import { z } from 'zod';
import { configSchema } from './schema.ts';

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://github.com/ztproxy/ztproxy/config/schema.json',
    title: 'ztproxy configuration',
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
