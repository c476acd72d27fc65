// `ztproxy explain` on routes with `paths`: the same selection, folding and refusals as
// the proxy, and the output says what the policy compared.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const dir = mkdtempSync(join(tmpdir(), 'ztproxy-explain-paths-'));
const file = join(dir, 'config.yaml');
writeFileSync(
  file,
  stringify({
    listen: { address: '127.0.0.1:8443', tls: { cert: 'package.json', key: 'package.json' } },
    routes: [
      {
        name: 'legacy',
        match: { host: 'app.example.com', pathPrefix: '/Legacy' },
        upstream: 'http://127.0.0.1:9000',
        paths: 'caseInsensitive',
        policy: { allow: { accept: true }, deny: { path: { prefix: '/legacy/admin' } } },
      },
      {
        name: 'site',
        match: { host: 'app.example.com' },
        upstream: 'http://127.0.0.1:9001',
        paths: { rejectEncoded: ['?'] },
        policy: { allow: { accept: true } },
      },
    ],
  }),
);

function explain(path: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['bin/ztproxy.js', 'explain', '-c', file, '--request', JSON.stringify({ host: 'app.example.com', path })], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout).result as Record<string, unknown>;
}

describe('ztproxy explain with paths', () => {
  it('a case-insensitive route: chosen and judged by the folded path, which it shows', () => {
    const result = explain('/LEGACY/Admin/x');
    expect(result).toMatchObject({
      status: 403,
      route: 'legacy',
      canonicalPath: '/LEGACY/Admin/x',
      caseInsensitive: true,
      policyPath: '/legacy/admin/x',
      decision: { effect: 'deny', rule: 'deny.path' },
    });
    expect((result.trail as { detail: string }[])[0]!.detail).toBe('path /legacy/admin/x has prefix /legacy/admin ignoring case');
  });

  it('refusals carry the reason and the route', () => {
    expect(explain('/legacy/admin.')).toEqual({ status: 400, route: 'legacy', caseInsensitive: true, reason: 'windows-trailing-dot-or-space' });
    expect(explain('/LEG%C4%B0ACY')).toEqual({ status: 400, reason: 'case-confusable-character' });
    expect(explain('/other%3Fx')).toEqual({ status: 400, route: 'site', caseInsensitive: false, reason: 'encoded-reserved-character' });
  });

  it('a case-sensitive route compares the canonical path', () => {
    expect(explain('/Other')).toMatchObject({ status: 'forwarded', route: 'site', caseInsensitive: false, policyPath: '/Other' });
  });
});
