// The tests directory of `ztproxy check --tests`: nothing in it may be skipped silently —
// a CI job must not pass because the file holding the failing cases was never read.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadPolicyTests } from '../../src/cli/policy-tests.ts';

const root = mkdtempSync(join(tmpdir(), 'ztproxy-policy-dir-'));
const testFile = (name: string) => stringify([{ name, request: { host: 'a.test' }, expect: 'deny' }]);

describe('loadPolicyTests', () => {
  it('a symbolic link to a test file is run like the file', () => {
    const dir = join(root, 'linked');
    mkdirSync(join(root, 'shared'), { recursive: true });
    mkdirSync(dir);
    writeFileSync(join(root, 'shared', 'team.yaml'), testFile('from the shared folder'));
    writeFileSync(join(dir, 'own.yaml'), testFile('own'));
    symlinkSync(join(root, 'shared', 'team.yaml'), join(dir, 'team.yaml'));
    const { files, errors } = loadPolicyTests(dir);
    expect(errors).toEqual([]);
    expect(files.map((f) => [f.file, f.cases.map((c) => c.name)])).toEqual([
      [join(dir, 'own.yaml'), ['own']],
      [join(dir, 'team.yaml'), ['from the shared folder']],
    ]);
  });

  it('a subdirectory, a linked directory, a dangling link or a *.yaml that is not a file is a problem, not skipped', () => {
    const dir = join(root, 'nested');
    mkdirSync(join(dir, 'team-a'), { recursive: true });
    writeFileSync(join(dir, 'own.yaml'), testFile('own'));
    writeFileSync(join(dir, 'team-a', 'more.yaml'), testFile('nested'));
    symlinkSync(join(root, 'shared'), join(dir, 'shared'));
    symlinkSync(join(root, 'missing.yaml'), join(dir, 'gone.yaml'));
    mkdirSync(join(dir, 'odd.yaml'));
    const { files, errors } = loadPolicyTests(dir);
    expect(files.map((f) => f.file)).toEqual([join(dir, 'own.yaml')]);
    expect(errors.sort()).toEqual([
      `${join(dir, 'gone.yaml')}: cannot read (ENOENT)`,
      `${join(dir, 'odd.yaml')}: a directory: not searched (policy tests are the *.yaml, *.yml files directly in ${dir})`,
      `${join(dir, 'shared')}: a directory: not searched (policy tests are the *.yaml, *.yml files directly in ${dir})`,
      `${join(dir, 'team-a')}: a directory: not searched (policy tests are the *.yaml, *.yml files directly in ${dir})`,
    ]);
  });

  it('files that are not test files (README, *.json) are left alone', () => {
    const dir = join(root, 'mixed');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yml'), testFile('a'));
    writeFileSync(join(dir, 'README.md'), '# tests');
    expect(loadPolicyTests(dir)).toMatchObject({ errors: [], files: [{ file: join(dir, 'a.yml') }] });
  });
});
