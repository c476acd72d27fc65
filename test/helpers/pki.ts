// Certificates for tests that need real TLS: one CA and a certificate for every shape a
// client (or attacker) can present — valid, expired, revoked, from another CA, two
// SPIFFE IDs, the ID only in the CN, no SAN, DNS-only — each as PEM and as a file.
// Key generation costs tens of milliseconds per key, so the set is made once per test
// process and shared; tests must treat it as read-only.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCrl, generateCa, issueCertificate, type Issued, type LeafOptions } from '../../src/tls/pki.ts';

export interface TestCert extends Issued {
  readonly certPath: string;
  readonly keyPath: string;
}

export interface TestPki {
  /** The temporary directory holding every file below. */
  readonly dir: string;
  /** The SPIFFE ID of `valid`, `expired`, `revoked`, `untrusted` and (as CN) `cnOnly`. */
  readonly spiffeId: string;
  readonly ca: TestCert;
  /** The CA that issued `untrusted`; trusted by nothing. */
  readonly otherCa: TestCert;
  /** Revokes `clients.revoked` only; valid for a year. */
  readonly crl: { readonly pem: string; readonly path: string };
  /** ECDSA P-256 server certificate for localhost, 127.0.0.1 and ::1. */
  readonly server: TestCert;
  /** The same names with an RSA-2048 key. */
  readonly serverRsa: TestCert;
  /** Same names and key type as `server`, different key and serial: a rotated certificate for reload tests. */
  readonly serverNext: TestCert;
  readonly clients: {
    readonly valid: TestCert;
    /** Expired yesterday. */
    readonly expired: TestCert;
    /** Listed in `crl`. */
    readonly revoked: TestCert;
    /** Same SPIFFE ID as `valid`, signed by `otherCa`. */
    readonly untrusted: TestCert;
    /** Two spiffe:// URI SANs: `spiffeId` and `spiffe://example.org/ns/prod/sa/admin`. */
    readonly twoSpiffe: TestCert;
    /** CN is `spiffeId`, no SAN extension at all. */
    readonly cnOnly: TestCert;
    /** CN `no-san`, no SAN extension. */
    readonly noSan: TestCert;
    /** Only a DNS SAN (`client.example.org`). */
    readonly dnsOnly: TestCert;
  };
  /** Deletes the directory; the next makeTestPki() builds a fresh set. */
  cleanup(): Promise<void>;
}

const SPIFFE_ID = 'spiffe://example.org/ns/prod/sa/api';
const DAY_MS = 86_400_000;

let pending: Promise<TestPki> | undefined;

export function makeTestPki(): Promise<TestPki> {
  pending ??= build().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function build(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'ztproxy-pki-'));
  const [ca, otherCa] = await Promise.all([
    generateCa({ commonName: 'ztproxy test CA' }),
    generateCa({ commonName: 'ztproxy untrusted test CA' }),
  ]);
  const yearFromNow = new Date(Date.now() + 365 * DAY_MS);
  const server = (keyType: 'ec' | 'rsa'): LeafOptions => ({
    usage: 'server', keyType, commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'],
  });
  const client = (opts: Omit<LeafOptions, 'usage'>): LeafOptions => ({ usage: 'client', ...opts });

  const [serverEc, serverRsa, serverNext, valid, expired, revoked, untrusted, twoSpiffe, cnOnly, noSan, dnsOnly] =
    await Promise.all([
      issueCertificate(ca, server('ec')),
      issueCertificate(ca, server('rsa')),
      issueCertificate(ca, server('ec')),
      issueCertificate(ca, client({ commonName: 'api', uris: [SPIFFE_ID] })),
      issueCertificate(ca, client({
        commonName: 'api', uris: [SPIFFE_ID],
        notBefore: new Date(Date.now() - 2 * DAY_MS), notAfter: new Date(Date.now() - DAY_MS),
      })),
      issueCertificate(ca, client({ commonName: 'api', uris: [SPIFFE_ID] })),
      issueCertificate(otherCa, client({ commonName: 'api', uris: [SPIFFE_ID] })),
      issueCertificate(ca, client({ commonName: 'api', uris: [SPIFFE_ID, 'spiffe://example.org/ns/prod/sa/admin'] })),
      issueCertificate(ca, client({ commonName: SPIFFE_ID })),
      issueCertificate(ca, client({ commonName: 'no-san' })),
      issueCertificate(ca, client({ commonName: 'client.example.org', dnsNames: ['client.example.org'] })),
    ]);
  const crlPem = await createCrl(ca, [revoked.serialHex], { nextUpdate: yearFromNow });

  const save = async (name: string, issued: Issued): Promise<TestCert> => {
    const certPath = join(dir, `${name}.crt`);
    const keyPath = join(dir, `${name}.key`);
    await Promise.all([writeFile(certPath, issued.certPem), writeFile(keyPath, issued.keyPem, { mode: 0o600 })]);
    return { ...issued, certPath, keyPath };
  };
  const crlPath = join(dir, 'ca.crl');
  await writeFile(crlPath, crlPem);

  return {
    dir,
    spiffeId: SPIFFE_ID,
    ca: await save('ca', ca),
    otherCa: await save('other-ca', otherCa),
    crl: { pem: crlPem, path: crlPath },
    server: await save('server', serverEc),
    serverRsa: await save('server-rsa', serverRsa),
    serverNext: await save('server-next', serverNext),
    clients: {
      valid: await save('client-valid', valid),
      expired: await save('client-expired', expired),
      revoked: await save('client-revoked', revoked),
      untrusted: await save('client-untrusted', untrusted),
      twoSpiffe: await save('client-two-spiffe', twoSpiffe),
      cnOnly: await save('client-cn-only', cnOnly),
      noSan: await save('client-no-san', noSan),
      dnsOnly: await save('client-dns-only', dnsOnly),
    },
    async cleanup() {
      pending = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
