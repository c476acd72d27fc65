// The OpenID AuthZEN working group's API-gateway interop, driven through ztproxy
// (test/fixtures/authzen/, a copy of shared/reference/authzen/ with its MIT licence): the 25 rows of gateway-decisions.json, each sent as a real
// HTTPS request with a bearer token whose `sub` is the row's subject, to a route whose
// templates come from an OpenAPI document of the interop's Todo API. The test PDP
// decides from the interop's own table (never ztproxy's engine); every row must get its
// expected answer (allow → the upstream reached, deny → 403 and the upstream untouched),
// and every request the PDP received must validate against the AuthZEN 1.0 evaluation
// request JSON Schema and carry exactly the row's subject, action and resource id, with
// the template's parameter extracted.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { get } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';

const REFERENCE = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/authzen');

interface Row {
  request: { subject: { type: string; id: string }; action: { name: string }; resource: { type: string; id: string } };
  expected: boolean;
}

const rows = (JSON.parse(readFileSync(join(REFERENCE, 'gateway-decisions.json'), 'utf8')) as { evaluation: Row[] }).evaluation;
const requestSchema = JSON.parse(readFileSync(join(REFERENCE, 'evaluation-request.schema.json'), 'utf8')) as { $schema: string };

const keyOf = (subject: string, action: string, resource: string): string => `${subject} ${action} ${resource}`;
const table = new Map(rows.map((r) => [keyOf(r.request.subject.id, r.request.action.name, r.request.resource.id), r.expected]));

/** A concrete path for a row's template, and the parameters the PDP must be told. */
function pathFor(template: string, i: number): { path: string; params: Record<string, string> } {
  if (template === '/users/{userId}') return { path: `/users/rick%40the-citadel.com`, params: { userId: 'rick%40the-citadel.com' } };
  if (template === '/todos/{todoId}') return { path: `/todos/7240d0db-8ff0-41ec-98b2-34a096273b${String(i).padStart(2, '0')}`, params: { todoId: `7240d0db-8ff0-41ec-98b2-34a096273b${String(i).padStart(2, '0')}` } };
  return { path: template, params: {} };
}

let key: TestKey;
let pdp: TestPdp;
let openapiDir: string;
const unknownQuestions: string[] = [];

const stack = useProxyStack(async ({ upstream, onClose }) => {
  key = await makeKey('ES256');
  const jwks = await writeJwksFile(jwksOf(key));
  pdp = await startTestPdp((body) => {
    const subject = body.subject as { id?: unknown } | undefined;
    const action = body.action as { name?: unknown } | undefined;
    const resource = body.resource as { id?: unknown } | undefined;
    const expected = table.get(keyOf(String(subject?.id), String(action?.name), String(resource?.id)));
    if (expected === undefined) {
      unknownQuestions.push(JSON.stringify(body));
      return { decision: false };
    }
    return { decision: expected };
  });
  openapiDir = await mkdtemp(join(tmpdir(), 'ztproxy-openapi-'));
  const openapi = join(openapiDir, 'todo.yaml');
  // The interop's Todo API, as its OpenAPI document describes it (paths only matter here).
  await writeFile(
    openapi,
    stringify({
      openapi: '3.0.3',
      info: { title: 'Todo API', version: '1.0.0' },
      paths: {
        '/users/{userId}': { get: { responses: { 200: { description: 'a user' } } } },
        '/todos': { get: { responses: { 200: { description: 'todos' } } }, post: { responses: { 200: { description: 'created' } } } },
        '/todos/{todoId}': { put: { responses: { 200: { description: 'updated' } } }, delete: { responses: { 200: { description: 'deleted' } } } },
      },
    }),
  );
  onClose(() => Promise.all([jwks.cleanup(), pdp.close(), rm(openapiDir, { recursive: true, force: true })]));
  return {
    identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
    pdp: { mode: 'authzen', url: pdp.origin, timeout: '3s' },
    routes: [{ name: 'todo', match: { host: 'todo.test' }, upstream: upstream.url, openapi }],
  };
});

describe('AuthZEN API-gateway interop (gateway-decisions.json)', () => {
  it('the table has the 25 rows of five users', () => {
    expect(rows).toHaveLength(25);
    expect(new Set(rows.map((r) => r.request.subject.id)).size).toBe(5);
    // The schemas are draft 2020-12, which the Ajv2020 class below implements.
    expect(requestSchema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it('every row gets its expected decision, and the PDP sees exactly the interop request', async () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats.default(ajv);
    // The working group's schemas annotate properties with OpenAPI's `example` keyword.
    ajv.addKeyword('example');
    const validate = ajv.compile(requestSchema);
    const tokens = new Map<string, string>();
    for (const [i, row] of rows.entries()) {
      const { subject, action, resource } = row.request;
      let token = tokens.get(subject.id);
      if (token === undefined) {
        token = await mint(key, accessClaims(Math.floor(Date.now() / 1000), { sub: subject.id }));
        tokens.set(subject.id, token);
      }
      const { path, params } = pathFor(resource.id, i);
      const seenBefore = stack.upstream.seen.length;
      const callsBefore = pdp.calls.length;
      const res = await get(stack.proxy.port, path, { host: 'todo.test', method: action.name, headers: { authorization: `Bearer ${token}` } });
      const where = `row ${i}: ${subject.id} ${action.name} ${resource.id}`;
      expect(res.status, where).toBe(row.expected ? 200 : 403);
      expect(stack.upstream.seen.length - seenBefore, where).toBe(row.expected ? 1 : 0);
      if (row.expected) expect(stack.upstream.seen.at(-1)).toMatchObject({ method: action.name, url: path });
      // The decision cache may answer a repeated question; these 25 are all distinct.
      expect(pdp.calls.length - callsBefore, where).toBe(1);
      const sent = pdp.calls.at(-1)!;
      expect(sent.path, where).toBe('/access/v1/evaluation');
      expect(validate(sent.body), `${where}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(sent.body!.subject, where).toEqual(subject);
      expect(sent.body!.action, where).toEqual(action);
      expect(sent.body!.resource, where).toMatchObject({
        type: resource.type,
        id: resource.id,
        properties: { schema: 'https', hostname: 'todo.test', path, uri: `https://todo.test${path}`, params, ip: '127.0.0.1' },
      });
    }
    expect(unknownQuestions).toEqual([]);
  });
});
