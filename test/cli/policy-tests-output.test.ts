// `ztproxy check --tests` output is read by people and CI log scrapers: nothing a test
// file or its name carries — a newline, an ANSI escape — may print a line of its own
// (a forged `ok` or summary line) or rewrite the terminal (erase a FAIL line).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'ztproxy-policy-output-'));

const CONFIG = {
  listen: { address: '127.0.0.1:8443', tls: { cert: 'package.json', key: 'package.json' }, clientAuth: { mode: 'optional', ca: 'package.json' } },
  routes: [{ name: 'mesh', match: { host: 'mesh.test' }, upstream: 'http://127.0.0.1:9000', policy: { allow: { spiffe: { id: 'spiffe://example.org/a' } } } }],
};
const configFile = join(dir, 'config.yaml');
writeFileSync(configFile, stringify(CONFIG));

const ESC = '\u001b';
const FORGED = 'ok   forged.yaml › all good';

describe('check --tests output cannot be forged', () => {
  it('control characters in file names, described values and unknown keys are escaped, one printed line per line', () => {
    const tests = join(dir, 'tests');
    mkdirSync(tests);
    // A failing case whose trail shows the described SPIFFE ID.
    writeFileSync(join(tests, 'a.yaml'), stringify([{ name: 'mesh caller', request: { host: 'mesh.test', spiffeId: `spiffe://example.org/b\n${FORGED}\n${ESC}[2K${ESC}[1A` }, expect: 'allow' }]));
    // A passing case in a file whose name carries a newline and an escape sequence.
    writeFileSync(join(tests, `b\n${FORGED}${ESC}[1A${ESC}[2K.yaml`), stringify([{ name: 'mesh', request: { host: 'mesh.test', spiffeId: 'spiffe://example.org/a' }, expect: 'allow' }]));
    // An invalid file: an unknown key carrying a forged summary line.
    writeFileSync(join(tests, 'c.yaml'), stringify([{ name: 'x', request: { host: 'mesh.test' }, expect: 'deny', ['y\n9 passed, 0 failed']: 1 }]));
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/ztproxy.js'), 'check', '-c', configFile, '--tests', tests], { encoding: 'utf8', timeout: 30_000, cwd: ROOT });
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain(ESC);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('ok   '))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith(FORGED) || l.startsWith('9 passed'))).toEqual([]);
    expect(lines.at(-1)).toBe('1 passed, 1 failed, 1 problem in test files');
    expect(r.stdout).toContain(String.raw`\n${FORGED}`);
  });
});
