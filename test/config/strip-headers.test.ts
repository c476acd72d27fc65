// `stripHeaders` (top level and per route): names and prefixes are header-name tokens,
// stored normalized (lower-case, `_` as `-`, the form requests are compared in), and none
// may remove a header the upstream needs to read the request as ztproxy judged it.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';

const CERT = 'package.json';

function withStrip(top: unknown, route?: unknown): { config?: ReturnType<typeof parseConfig>['config']; errors: string[] } {
  const cfg: Record<string, unknown> = {
    listen: { address: '127.0.0.1:8443', tls: { cert: CERT, key: CERT } },
    routes: [{ name: 'app', upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } }, ...(route === undefined ? {} : { stripHeaders: route }) }],
  };
  if (top !== undefined) cfg.stripHeaders = top;
  return parseConfig(stringify(cfg), process.cwd(), {});
}

describe('stripHeaders config', () => {
  it('defaults to empty lists, top level and per route', () => {
    const { config, errors } = withStrip(undefined);
    expect(errors).toEqual([]);
    expect(config!.stripHeaders).toEqual({ names: [], prefixes: [] });
    expect(config!.routes[0]!.stripHeaders).toEqual({ names: [], prefixes: [] });
  });

  it('stores names and prefixes lower-case with `_` as `-`', () => {
    const { config, errors } = withStrip({ names: ['X_Tenant', 'X-Employee-ID'], prefixes: ['X_ACME_'] }, { names: ['x-legacy_user'] });
    expect(errors).toEqual([]);
    expect(config!.stripHeaders).toEqual({ names: ['x-tenant', 'x-employee-id'], prefixes: ['x-acme-'] });
    expect(config!.routes[0]!.stripHeaders).toEqual({ names: ['x-legacy-user'], prefixes: [] });
  });

  const NEEDED = "which the upstream needs to read the request as ztproxy judged it";
  const refused: [string, unknown, unknown, string[]][] = [
    ['a name with a space', { names: ['X Tenant'] }, undefined, ["stripHeaders.names.0: must be a header name (letters, digits and !#$%&'*+-.^_`|~ only)"]],
    ['a name with a colon', { names: ['x-tenant:'] }, undefined, ["stripHeaders.names.0: must be a header name (letters, digits and !#$%&'*+-.^_`|~ only)"]],
    ['a pseudo-header', { names: [':authority'] }, undefined, ["stripHeaders.names.0: must be a header name (letters, digits and !#$%&'*+-.^_`|~ only)"]],
    ['an empty prefix', { prefixes: [''] }, undefined, ["stripHeaders.prefixes.0: must be a header name (letters, digits and !#$%&'*+-.^_`|~ only)"]],
    ['host', { names: ['Host'] }, undefined, [`stripHeaders.names.0: would remove host, ${NEEDED}`]],
    ['content-length, spelt with `_`', { names: ['CONTENT_LENGTH'] }, undefined, [`stripHeaders.names.0: would remove content-length, ${NEEDED}`]],
    ['transfer-encoding on a route', undefined, { names: ['transfer-encoding'] }, [`routes.0.stripHeaders.names.0: would remove transfer-encoding, ${NEEDED}`]],
    ['a prefix over content-length', { prefixes: ['content-'] }, undefined, [`stripHeaders.prefixes.0: would remove content-length, ${NEEDED}`]],
    ['a one-letter prefix over host', undefined, { prefixes: ['H'] }, [`routes.0.stripHeaders.prefixes.0: would remove host, ${NEEDED}`]],
    ['a prefix over the WebSocket key', { prefixes: ['Sec-WebSocket-'] }, undefined, [`stripHeaders.prefixes.0: would remove sec-websocket-key, ${NEEDED}`]],
    ['an unknown key', { name: ['x-tenant'] }, undefined, ['stripHeaders.name: unknown key']],
    ['every problem at once', { names: ['host', 'ok', 'bad name'] }, { prefixes: ['transfer-'] }, [
      `stripHeaders.names.0: would remove host, ${NEEDED}`,
      "stripHeaders.names.2: must be a header name (letters, digits and !#$%&'*+-.^_`|~ only)",
      `routes.0.stripHeaders.prefixes.0: would remove transfer-encoding, ${NEEDED}`,
    ]],
  ];
  it.each(refused)('refuses %s', (_why, top, route, expected) => {
    expect(withStrip(top, route).errors).toEqual(expected);
  });

  it('accepts names near the protected ones and headers ztproxy sets (only the client copies go)', () => {
    const { errors } = withStrip({ names: ['content-type', 'hosts', 'x-forwarded-for', 'x-request-id', 'cookie', 'authorization'], prefixes: ['x-forwarded-', 'sec-fetch-', 'x'] });
    expect(errors).toEqual([]);
  });
});
