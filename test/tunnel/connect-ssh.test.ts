// SSH through ztproxy (issue #6): the real OpenSSH client runs a command on a real sshd
// with `ztproxy connect %h:%p --via …` as its ProxyCommand. An allowed user on a managed
// device gets the command's output; a denied user, a denied device and a denied client
// certificate get nothing — ssh fails, ztproxy connect says why on stderr, and sshd saw no
// connection at all.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateCa, issueCertificate } from '../../src/tls/pki.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { SSHD, startSshd, type TestSshd } from '../helpers/sshd.ts';
import { connectCommand, devIdentity, makeDevPki, postureCommand, postureFile, runToEnd, tokenFile, type DevPki } from '../helpers/connect.ts';

const ALICE = ['--sub', 'alice', '--groups', 'ops'];
const MANAGED = ['--device', 'alice-laptop', '--managed', 'true'];
const CLIENT_SPIFFE = 'spiffe://ztproxy.local/ns/demo/sa/client';

describe.skipIf(SSHD === undefined)('ssh with ztproxy connect as ProxyCommand', () => {
  let pki: DevPki;
  let sshd: TestSshd;
  let proxy: TestProxy;
  let via: string;
  let knownHosts: string;

  beforeAll(async () => {
    [pki, sshd] = await Promise.all([makeDevPki(), startSshd()]);
    const upstream = `tcp://127.0.0.1:${sshd.port}`;
    proxy = await startTestProxy({
      ...devIdentity(pki),
      routes: [
        // People of the ops group on a managed device.
        { name: 'ssh', match: { host: 'ssh.internal', port: 22 }, upstream, policy: { allow: { and: [{ groups: { has: 'ops' } }, { device: { managed: true } }] } } },
        // A workload by its client certificate.
        { name: 'ssh-workload', match: { host: 'ssh-workload.internal', port: 22 }, upstream, policy: { allow: { spiffe: { id: CLIENT_SPIFFE } } } },
      ],
    });
    via = `https://127.0.0.1:${proxy.port}`;
    // The host key under the names ssh looks it up by (the proxy is invisible to it).
    const key = readFileSync(sshd.knownHosts, 'utf8').trim().split(' ').slice(1).join(' ');
    knownHosts = join(pki.dir, 'known_hosts');
    writeFileSync(knownHosts, `ssh.internal ${key}\nssh-workload.internal ${key}\n`);
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await sshd?.close();
  });

  let connectionsBefore = 0;
  beforeEach(() => {
    connectionsBefore = sshd.connections();
  });
  const sshdSaw = (): number => sshd.connections() - connectionsBefore;

  function ssh(host: string, connectArgs: readonly string[], command: readonly string[] = ['echo', 'tunnel-ok'], input?: Buffer, through = via) {
    const proxyCommand = connectCommand(['%h:%p', '--via', through, '--ca', pki.ca, ...connectArgs]);
    return runToEnd(
      'ssh',
      [
        '-i', sshd.userKey,
        '-o', `UserKnownHostsFile=${knownHosts}`,
        '-o', 'StrictHostKeyChecking=yes',
        '-o', 'BatchMode=yes',
        '-o', 'IdentitiesOnly=yes',
        '-o', 'ConnectTimeout=30',
        '-o', `ProxyCommand=${proxyCommand}`,
        '-p', '22',
        `${sshd.user}@${host}`,
        ...command,
      ],
      // No stored login of the person running the tests is used.
      { env: { ZTPROXY_CONFIG_DIR: pki.configDir }, timeoutMs: 60_000, ...(input === undefined ? {} : { input }) },
    );
  }

  it('runs a command for an allowed user on a managed device, and gets its output', async () => {
    const r = await ssh('ssh.internal', ['--token-file', await tokenFile(pki, ALICE), '--posture', await postureFile(pki, MANAGED)]);
    expect(r.stderr).not.toContain('ztproxy connect:');
    expect(r.stdout.toString().trim()).toBe('tunnel-ok');
    expect(r.code).toBe(0);
    expect(sshdSaw()).toBe(1);
    // The tunnel's access-log line is written when it closes.
    let line;
    for (let i = 0; i < 100 && line === undefined; i++) {
      line = proxy.logs.find((l) => l.msg === 'request' && l.route === 'ssh' && l.status === 200);
      if (line === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(line).toMatchObject({ method: 'CONNECT', host: 'ssh.internal', subject: 'alice', decision: 'allow' });
  }, 90_000);

  it('moves a larger stream both ways intact (2 MB in, 2 MB out)', async () => {
    const input = randomBytes(2_000_000);
    const r = await ssh('ssh.internal', ['--token-file', await tokenFile(pki, ALICE), '--posture', await postureFile(pki, MANAGED)], ['sha256sum && head -c 2000000 /dev/zero'], input);
    expect(r.code).toBe(0);
    const out = r.stdout;
    const newline = out.indexOf(10);
    expect(out.subarray(0, 64).toString()).toBe(createHash('sha256').update(input).digest('hex'));
    expect(out.length - newline - 1).toBe(2_000_000);
  }, 90_000);

  it('runs a command with the posture from --posture-command', async () => {
    const r = await ssh('ssh.internal', ['--token-file', await tokenFile(pki, ALICE), '--posture-command', postureCommand(pki, MANAGED)]);
    expect(r.stdout.toString().trim()).toBe('tunnel-ok');
    expect(r.code).toBe(0);
    expect(sshdSaw()).toBe(1);
  }, 90_000);

  it('refuses a user the policy denies: nothing reaches sshd', async () => {
    const r = await ssh('ssh.internal', ['--token-file', await tokenFile(pki, ['--sub', 'bob', '--groups', 'sales']), '--posture', await postureFile(pki, ['--device', 'bob-laptop', '--managed', 'true'])]);
    expect(r.code).not.toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/ztproxy connect: ssh\.internal:22 refused by https:\/\/127\.0\.0\.1:\d+: 403 \("forbidden", request id [0-9a-f-]{36}\)/);
    expect(r.stderr).toContain('ztproxy connect: denied by policy');
    expect(sshdSaw()).toBe(0);
  }, 90_000);

  it('refuses an unmanaged device: nothing reaches sshd', async () => {
    const r = await ssh('ssh.internal', ['--token-file', await tokenFile(pki, ALICE), '--posture', await postureFile(pki, ['--device', 'alice-phone', '--managed', 'false'])]);
    expect(r.code).not.toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toContain('403');
    expect(r.stderr).toContain('denied by policy');
    expect(sshdSaw()).toBe(0);
  }, 90_000);

  it('refuses a device without a posture assertion: nothing reaches sshd', async () => {
    const r = await ssh('ssh.internal', ['--token-file', await tokenFile(pki, ALICE)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('403');
    expect(sshdSaw()).toBe(0);
  }, 90_000);

  it('lets the workload in by its client certificate, and refuses another certificate: nothing reaches sshd', async () => {
    const allowed = await ssh('ssh-workload.internal', ['--cert', join(pki.certs, 'client.crt'), '--key', join(pki.certs, 'client.key')]);
    expect(allowed.stdout.toString().trim()).toBe('tunnel-ok');
    expect(sshdSaw()).toBe(1);
    const denied = await ssh('ssh-workload.internal', ['--cert', join(pki.certs, 'client-other.crt'), '--key', join(pki.certs, 'client-other.key')]);
    expect(denied.code).not.toBe(0);
    expect(denied.stdout.length).toBe(0);
    expect(denied.stderr).toMatch(/ssh-workload\.internal:22 refused by .*: 40[13]/);
    expect(sshdSaw()).toBe(1);
  }, 120_000);

  it('refuses a client certificate from another CA — as no certificate (403), or at the handshake where one is required: nothing reaches sshd', async () => {
    const otherCa = await generateCa({ commonName: "not the proxy's CA" });
    const forged = await issueCertificate(otherCa, { usage: 'client', commonName: 'client', uris: [CLIENT_SPIFFE] });
    writeFileSync(join(pki.dir, 'forged.crt'), forged.certPem);
    writeFileSync(join(pki.dir, 'forged.key'), forged.keyPem);
    const cert = ['--cert', join(pki.dir, 'forged.crt'), '--key', join(pki.dir, 'forged.key')];
    const optional = await ssh('ssh-workload.internal', cert);
    expect(optional.code).not.toBe(0);
    expect(optional.stdout.length).toBe(0);
    expect(optional.stderr).toMatch(/ssh-workload\.internal:22 refused by .*: 403/);
    const identity = devIdentity(pki) as { listen: { tls: unknown; clientAuth: object } };
    const strict = await startTestProxy({
      ...identity,
      listen: { ...identity.listen, clientAuth: { ...identity.listen.clientAuth, mode: 'require' } },
      routes: [{ name: 'ssh-workload', match: { host: 'ssh-workload.internal', port: 22 }, upstream: `tcp://127.0.0.1:${sshd.port}`, policy: { allow: { spiffe: { id: CLIENT_SPIFFE } } } }],
    });
    try {
      const required = await ssh('ssh-workload.internal', cert, ['echo', 'tunnel-ok'], undefined, `https://127.0.0.1:${strict.port}`);
      expect(required.code).not.toBe(0);
      expect(required.stdout.length).toBe(0);
      expect(required.stderr).toMatch(/ztproxy connect: cannot reach https:\/\/127\.0\.0\.1:\d+: .*\nztproxy connect: the proxy refused the TLS handshake: is the client certificate issued by its CA, unexpired and not revoked\?\n/);
      const none = await ssh('ssh-workload.internal', [], ['echo', 'tunnel-ok'], undefined, `https://127.0.0.1:${strict.port}`);
      expect(none.code).not.toBe(0);
      expect(none.stderr).toContain('ztproxy connect: the proxy closed the connection before answering: does it require a client certificate (--cert FILE --key FILE)?');
    } finally {
      await strict.close();
    }
    expect(sshdSaw()).toBe(0);
  }, 120_000);

  it('refuses without credentials (401) with the login hint: nothing reaches sshd', async () => {
    const r = await ssh('ssh.internal', []);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refused by https:\/\/127\.0\.0\.1:\d+: 401/);
    expect(r.stderr).toContain(`log in: ztproxy login --via ${via}`);
    expect(sshdSaw()).toBe(0);
  }, 90_000);
});
