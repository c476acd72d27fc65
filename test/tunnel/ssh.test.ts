// The real thing through a tunnel: OpenSSH's `ssh` reaches a real sshd (test/helpers/sshd.ts)
// through a ztproxy CONNECT tunnel, with a minimal ProxyCommand that opens the tunnel over
// TLS and then pipes stdin/stdout (what `ztproxy connect` does, without its login and
// posture handling). An allowed route runs the command and sshd counts the connection; a
// route whose policy refuses gets nothing, and sshd saw no connection at all.
import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { SSHD, sshArgs, startSshd, type TestSshd } from '../helpers/sshd.ts';

const run = promisify(execFile);

// argv: proxy port, CA file, target. Exits 1 with the status line on stderr when refused.
const PROXY_COMMAND = `
const tls = require('node:tls');
const { readFileSync } = require('node:fs');
const [port, caFile, target] = process.argv.slice(2);
const s = tls.connect({ host: '127.0.0.1', port: Number(port), ca: readFileSync(caFile), servername: 'localhost' }, () => {
  s.write('CONNECT ' + target + ' HTTP/1.1\\r\\nHost: ' + target + '\\r\\n\\r\\n');
});
let head = Buffer.alloc(0);
const onHead = (c) => {
  head = Buffer.concat([head, c]);
  const end = head.indexOf('\\r\\n\\r\\n');
  if (end < 0) return;
  s.off('data', onHead);
  const status = head.subarray(0, head.indexOf('\\r\\n')).toString();
  if (!status.startsWith('HTTP/1.1 200 ')) { process.stderr.write(status + '\\n'); process.exit(1); }
  process.stdout.write(head.subarray(end + 4));
  s.pipe(process.stdout);
  process.stdin.pipe(s);
};
s.on('data', onHead);
s.on('error', (e) => { process.stderr.write(e.message + '\\n'); process.exit(1); });
s.on('close', () => process.exit(0));
`;

let pki: TestPki;
let sshd: TestSshd;
let proxy: TestProxy;
let script: string;

describe.skipIf(SSHD === undefined)('ssh through a CONNECT tunnel', () => {
  beforeAll(async () => {
    pki = await makeTestPki();
    sshd = await startSshd();
    script = join(mkdtempSync(join(tmpdir(), 'ztproxy-ssh-')), 'proxy-command.cjs');
    writeFileSync(script, PROXY_COMMAND);
    const upstream = `tcp://127.0.0.1:${sshd.port}`;
    proxy = await startTestProxy({
      listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
      routes: [
        { name: 'ssh', match: { host: 'ssh.internal', port: 22 }, upstream, policy: { allow: { accept: true } } },
        { name: 'ssh-denied', match: { host: 'denied.internal', port: 22 }, upstream, policy: { allow: { sourceIp: ['192.0.2.0/24'] } } },
      ],
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await sshd?.close();
  });

  const proxyCommand = (target: string): string => `ProxyCommand=${process.execPath} ${script} ${proxy.port} ${pki.ca.certPath} ${target}`;

  it('runs a command on an allowed route', async () => {
    const { stdout } = await run('ssh', sshArgs(sshd, ['-o', proxyCommand('ssh.internal:22')]).concat(['echo', 'through-ztproxy']));
    expect(stdout.trim()).toBe('through-ztproxy');
    expect(sshd.connections()).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(proxy.logs.find((l) => l.msg === 'request' && l.route === 'ssh')).toMatchObject({ status: 200, method: 'CONNECT', reason: 'tunnel-closed' });
  });

  it('gets nothing on a refused route, and sshd sees no connection', async () => {
    const before = sshd.connections();
    const err = (await run('ssh', sshArgs(sshd, ['-o', proxyCommand('denied.internal:22')]).concat(['echo', 'nope'])).catch((e: unknown) => e)) as { stdout: string; stderr: string };
    expect(err.stdout).toBe('');
    expect(err.stderr).toContain('HTTP/1.1 403');
    expect(sshd.connections()).toBe(before);
  });
});
