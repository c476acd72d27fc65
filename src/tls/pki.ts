// Development PKI: a CA, server and client (SPIFFE workload) certificates, CRLs, and the
// files `ztproxy certs init|issue` writes. It exists so the demo and the tests run real
// mTLS with no setup. Certificates and CRLs are built with @peculiar/x509 over Node's
// WebCrypto — no ASN.1 or signature code of our own — and are what OpenSSL, and so
// Node's TLS stack, validates.
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { PkiError } from './pki-error.ts';
import { parseSpiffeId } from './pki-spiffe-id.ts';
import { x509 } from './pki-x509.ts';

export type KeyType = 'ec' | 'rsa';

/** A certificate with its private key. */
export interface Issued {
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  /** Lowercase hex, as `openssl x509 -serial` prints it (modulo case). */
  readonly serialHex: string;
}

export interface CaOptions {
  /** Default `ztproxy development CA`. */
  commonName?: string;
  /** Default `ec` (ECDSA P-256); `rsa` is RSA-2048. Both sign with SHA-256. */
  keyType?: KeyType;
  /** Default 3650. */
  validityDays?: number;
}

export interface LeafOptions {
  usage: 'server' | 'client';
  /** Default: the CA's key type. */
  keyType?: KeyType;
  /** Default: the first DNS name, else the first IP address, else `ztproxy <usage>`. */
  commonName?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  /** Default: one minute ago. */
  notBefore?: Date;
  /** Give this or `ttlMs`. May lie in the past (expired certificates for tests). */
  notAfter?: Date;
  /** Lifetime from now; default one year. */
  ttlMs?: number;
}

export interface CrlOptions {
  /** Default: 30 days from now. Past this date OpenSSL rejects the CRL (CRL_HAS_EXPIRED). */
  nextUpdate?: Date;
}

export interface InitOptions {
  /** Replace existing files instead of refusing. */
  force?: boolean;
  /** Key type of the CA and every certificate; default `ec`. */
  keyType?: KeyType;
}

export interface WorkloadOptions {
  spiffeId: string;
  ttlMs: number;
  /** Output file stem; default the SPIFFE ID's last path segment. */
  name?: string;
  force?: boolean;
}

const DAY_MS = 86_400_000;
// Backdating notBefore / thisUpdate by a minute keeps a peer whose clock runs slightly
// behind ours from rejecting a certificate minted a moment ago (step-ca does the same).
const BACKDATE_MS = 60_000;
const DEFAULT_CA_DAYS = 3650;
const DEFAULT_LEAF_TTL_MS = 365 * DAY_MS;
const DEFAULT_CRL_TTL_MS = 30 * DAY_MS;
const DEV_TRUST_DOMAIN = 'ztproxy.local';
// What `certs init` writes, in this order; every `.key` is a secret.
const DEV_PKI_FILES = [
  'ca.crt', 'ca.key', 'ca.crl', 'server.crt', 'server.key', 'client.crt', 'client.key',
  'client-other.crt', 'client-other.key', 'device-agent.key', 'device-agent.jwks.json',
  'dev-issuer.key', 'dev-issuer.jwks.json',
] as const;
type DevPkiFile = (typeof DEV_PKI_FILES)[number];

const GENERATE_ALGORITHMS = {
  ec: { name: 'ECDSA', namedCurve: 'P-256' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
} as const;
const IMPORT_ALGORITHMS = {
  ec: { name: 'ECDSA', namedCurve: 'P-256' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
} as const;
// RSASSA-PKCS1-v1_5 takes its hash from the key; ECDSA needs it per signature.
const SIGNING_ALGORITHMS = {
  ec: { name: 'ECDSA', hash: 'SHA-256' },
  rsa: { name: 'RSASSA-PKCS1-v1_5' },
} as const;

/** A self-signed CA allowed to sign certificates and CRLs, and nothing else. */
export async function generateCa(opts: CaOptions = {}): Promise<Issued> {
  const keyType = checkKeyType(opts.keyType);
  const days = opts.validityDays ?? DEFAULT_CA_DAYS;
  if (!Number.isFinite(days) || days <= 0) throw invalidOption('"validityDays" must be a positive number');
  const keys = await generateKeys(keyType);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: [{ CN: [opts.commonName ?? 'ztproxy development CA'] }, { O: ['ztproxy'] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHMS[keyType],
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: toPem(cert), keyPem: await exportKeyPem(keys.privateKey), serialHex: cert.serialNumber };
}

/**
 * An end-entity certificate signed by `ca`: a TLS server or a TLS client (workload).
 * Refuses a certificate that would outlive its CA — it would stop validating silently
 * on the day the CA expires.
 */
export async function issueCertificate(ca: Issued, opts: LeafOptions): Promise<Issued> {
  if (opts.usage !== 'server' && opts.usage !== 'client') throw invalidOption('"usage" must be "server" or "client"');
  const signer = await loadCa(ca);
  const keyType = opts.keyType === undefined ? signer.keyType : checkKeyType(opts.keyType);
  const now = Date.now();
  if (opts.notAfter !== undefined && opts.ttlMs !== undefined) throw invalidOption('give "notAfter" or "ttlMs", not both');
  if (opts.ttlMs !== undefined && !(Number.isFinite(opts.ttlMs) && opts.ttlMs > 0)) {
    throw invalidOption('"ttlMs" must be a positive number of milliseconds');
  }
  const notBefore = opts.notBefore ?? new Date(now - BACKDATE_MS);
  const notAfter = opts.notAfter ?? new Date(now + (opts.ttlMs ?? DEFAULT_LEAF_TTL_MS));
  if (notAfter <= notBefore) throw invalidOption('"notAfter" must be later than "notBefore"');
  if (notAfter > signer.cert.notAfter) {
    throw invalidOption(`the certificate would outlive its CA (CA valid until ${signer.cert.notAfter.toISOString()})`);
  }

  const dnsNames = opts.dnsNames ?? [];
  const ipAddresses = opts.ipAddresses ?? [];
  const uris = opts.uris ?? [];
  const names: x509.JsonGeneralName[] = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ...uris.map((value) => ({ type: 'url' as const, value })),
  ];
  const commonName = opts.commonName ?? dnsNames[0] ?? ipAddresses[0] ?? `ztproxy ${opts.usage}`;

  const keys = await generateKeys(keyType);
  let keyUsage = x509.KeyUsageFlags.digitalSignature;
  // TLS 1.2 RSA key exchange encrypts the premaster secret to the server's key.
  if (keyType === 'rsa') keyUsage |= x509.KeyUsageFlags.keyEncipherment;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(keyUsage, true),
    new x509.ExtendedKeyUsageExtension(
      [opts.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    new x509.AuthorityKeyIdentifierExtension(signer.keyId),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: [{ CN: [commonName] }],
    // The CA's encoded name as is, so issuer/subject matching in chain building is exact.
    issuer: signer.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: SIGNING_ALGORITHMS[signer.keyType],
    extensions,
  });
  return { certPem: toPem(cert), keyPem: await exportKeyPem(keys.privateKey), serialHex: cert.serialNumber };
}

/** A PEM CRL signed by `ca` that revokes the given serial numbers (hex). */
export async function createCrl(ca: Issued, revokedSerialsHex: string[], opts: CrlOptions = {}): Promise<string> {
  for (const serial of revokedSerialsHex) {
    if (!/^[0-9a-f]+$/i.test(serial)) throw invalidOption(`"${serial}" is not a hexadecimal serial number`);
  }
  const signer = await loadCa(ca);
  const now = Date.now();
  const nextUpdate = opts.nextUpdate ?? new Date(now + DEFAULT_CRL_TTL_MS);
  const crl = await x509.X509CrlGenerator.create({
    issuer: signer.cert.subjectName,
    thisUpdate: new Date(now - BACKDATE_MS),
    nextUpdate,
    entries: revokedSerialsHex.map((serialNumber) => ({ serialNumber, revocationDate: new Date(now) })),
    // RFC 5280 §5.2.1: a CRL names the key that signed it.
    extensions: [new x509.AuthorityKeyIdentifierExtension(signer.keyId)],
    signingAlgorithm: SIGNING_ALGORITHMS[signer.keyType],
    signingKey: signer.key,
  });
  // The library labels it `CRL`; OpenSSL and Node read only the RFC 7468 label `X509 CRL`.
  return ensureNewline(x509.PemConverter.encode(crl.rawData, 'X509 CRL'));
}

/**
 * Writes a complete dev PKI into `dir` (created if missing) and returns the paths written:
 * CA + empty CRL, a localhost server certificate, two SPIFFE client certificates, the
 * device agent's and the dev token issuer's ES256 signing keys with their public JWKS. Refuses, before generating
 * anything, if any of the files exists, unless `force`.
 */
export async function initDevPki(dir: string, opts: InitOptions = {}): Promise<string[]> {
  const keyType = checkKeyType(opts.keyType);
  const force = opts.force ?? false;
  if (!force) await refuseExisting(DEV_PKI_FILES.map((file) => join(dir, file)));

  const ca = await generateCa({ keyType });
  const yearFromNow = new Date(Date.now() + 365 * DAY_MS);
  const [crl, server, client, other, device, issuer] = await Promise.all([
    createCrl(ca, [], { nextUpdate: yearFromNow }),
    issueCertificate(ca, {
      usage: 'server', commonName: 'localhost',
      dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], notAfter: yearFromNow,
    }),
    issueCertificate(ca, {
      usage: 'client', commonName: 'client',
      uris: [`spiffe://${DEV_TRUST_DOMAIN}/ns/demo/sa/client`], notAfter: yearFromNow,
    }),
    issueCertificate(ca, {
      usage: 'client', commonName: 'other',
      uris: [`spiffe://${DEV_TRUST_DOMAIN}/ns/demo/sa/other`], notAfter: yearFromNow,
    }),
    generateSigningJwk(),
    // The dev token issuer (`ztproxy token`): a key of its own, never the device agent's.
    generateSigningJwk(),
  ]);

  await mkdir(dir, { recursive: true });
  const contents: Record<DevPkiFile, string> = {
    'ca.crt': ca.certPem, 'ca.key': ca.keyPem, 'ca.crl': crl,
    'server.crt': server.certPem, 'server.key': server.keyPem,
    'client.crt': client.certPem, 'client.key': client.keyPem,
    'client-other.crt': other.certPem, 'client-other.key': other.keyPem,
    'device-agent.key': device.privateJwk, 'device-agent.jwks.json': device.publicJwks,
    'dev-issuer.key': issuer.privateJwk, 'dev-issuer.jwks.json': issuer.publicJwks,
  };
  const written: string[] = [];
  for (const file of DEV_PKI_FILES) {
    const path = join(dir, file);
    await writeOutput(path, contents[file], file.endsWith('.key') ? 'key' : 'public', force);
    written.push(path);
  }
  return written;
}

/**
 * Issues a client certificate whose only SAN is `spiffeId` from the CA in `dir`
 * (ca.crt + ca.key) and writes `<name>.crt` / `<name>.key` next to it.
 */
export async function issueWorkloadCert(
  dir: string,
  opts: WorkloadOptions,
): Promise<{ certPath: string; keyPath: string }> {
  const { path: idPath } = parseSpiffeId(opts.spiffeId);
  const name = opts.name ?? defaultWorkloadName(idPath);
  // The name becomes a file name inside dir: no separators or leading dot (no escaping
  // dir, no hidden files), and never `ca`, which would replace the CA key with a leaf key.
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name)) {
    throw invalidOption(`invalid name ${JSON.stringify(name)}: use letters, digits, ".", "-" and "_", not starting with "."`);
  }
  if (name === 'ca') throw invalidOption('"name" must not be "ca": that would replace the CA key');
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  const force = opts.force ?? false;
  if (!force) await refuseExisting([certPath, keyPath]);

  const ca = await readCa(dir);
  const issued = await issueCertificate(ca, {
    usage: 'client',
    commonName: name,
    uris: [opts.spiffeId],
    ttlMs: opts.ttlMs,
  });
  await writeOutput(certPath, issued.certPem, 'public', force);
  await writeOutput(keyPath, issued.keyPem, 'key', force);
  return { certPath, keyPath };
}

interface CaSigner {
  readonly cert: x509.X509Certificate;
  readonly key: webcrypto.CryptoKey;
  readonly keyType: KeyType;
  readonly keyId: string;
}

async function loadCa(ca: Issued): Promise<CaSigner> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(ca.certPem);
  } catch (cause) {
    throw new PkiError('pki-invalid-ca', 'the CA certificate is not a PEM X.509 certificate', { cause });
  }
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) throw new PkiError('pki-invalid-ca', 'the CA certificate is not a CA (basicConstraints cA is not set)');

  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(ca.keyPem);
  } catch (cause) {
    throw new PkiError('pki-invalid-ca', 'the CA key is not a PEM private key', { cause });
  }
  const keyType = keyTypeOf(privateKey);
  // A key that does not belong to the certificate would sign certificates that no peer can
  // validate; say so here rather than leave a TLS handshake error to puzzle over.
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  if (!spki.equals(Buffer.from(cert.publicKey.rawData))) {
    throw new PkiError('pki-invalid-ca', 'the CA key does not match the CA certificate');
  }
  const key = privateKey.toCryptoKey(IMPORT_ALGORITHMS[keyType], false, ['sign']);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski?.keyId ?? (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey)).keyId;
  return { cert, key, keyType, keyId };
}

async function readCa(dir: string): Promise<Issued> {
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    return { certPem, keyPem, serialHex: new x509.X509Certificate(certPem).serialNumber };
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PkiError('pki-ca-missing', `no dev CA in ${dir} (${certPath} and ${keyPath}); run "ztproxy certs init" first`, { cause });
    }
    throw new PkiError('pki-invalid-ca', `cannot read the CA in ${dir}: ${(cause as Error).message}`, { cause });
  }
}

function keyTypeOf(key: KeyObject): KeyType {
  if (key.asymmetricKeyType === 'rsa') return 'rsa';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ec';
  throw new PkiError('pki-invalid-ca', 'the CA key must be ECDSA P-256 or RSA');
}

/** An ES256 signing key as a private JWK and its public JWKS, kid = RFC 7638 thumbprint. */
async function generateSigningJwk(): Promise<{ privateJwk: string; publicJwks: string }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  // RFC 7638 thumbprint as kid: stable for the key, so a verifier can match it without
  // any registry of names.
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const meta = { kid, alg: 'ES256', use: 'sig' };
  return {
    privateJwk: `${JSON.stringify({ ...(await exportJWK(privateKey)), ...meta }, null, 2)}\n`,
    publicJwks: `${JSON.stringify({ keys: [{ ...publicJwk, ...meta }] }, null, 2)}\n`,
  };
}

async function generateKeys(keyType: KeyType): Promise<webcrypto.CryptoKeyPair> {
  return (webcrypto.subtle.generateKey(GENERATE_ALGORITHMS[keyType], true, ['sign', 'verify']));
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return ensureNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

/**
 * 16 random bytes with the top bit cleared (DER INTEGERs are signed; RFC 5280 §4.1.2.2
 * wants a positive serial) and a non-zero first byte, so the encoding is exactly 16 bytes.
 */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) || 0x01;
  return bytes.toString('hex');
}

function defaultWorkloadName(idPath: string): string {
  const last = idPath.slice(idPath.lastIndexOf('/') + 1);
  return last.toLowerCase().replace(/[^a-z0-9_-]/g, '-');
}

async function refuseExisting(paths: string[]): Promise<void> {
  const existing: string[] = [];
  for (const p of paths) {
    try {
      await lstat(p);
      existing.push(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (existing.length > 0) throw fileExists(existing);
}

/**
 * Private keys are created 0600 (so never readable by others, not even for an instant)
 * and chmod-ed after because the umask only ever removes bits: certificates, CRLs and
 * the JWKS end up 0644 even under umask 077. A new file is opened O_EXCL, which also
 * refuses to follow a planted symlink; a replaced one goes through a temporary file and
 * rename, so a proxy watching the file for reload never reads it half-written.
 */
async function writeOutput(path: string, content: string, kind: 'key' | 'public', overwrite: boolean): Promise<void> {
  const mode = kind === 'key' ? 0o600 : 0o644;
  if (!overwrite) {
    try {
      await writeFile(path, content, { mode, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw fileExists([path]);
      throw err;
    }
    await chmod(path, mode);
    return;
  }
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content, { mode, flag: 'wx' });
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

function checkKeyType(keyType: KeyType | undefined): KeyType {
  if (keyType === undefined) return 'ec';
  if (keyType !== 'ec' && keyType !== 'rsa') throw invalidOption('"keyType" must be "ec" or "rsa"');
  return keyType;
}

function toPem(cert: x509.X509Certificate): string {
  return ensureNewline(cert.toString('pem'));
}

function ensureNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

function invalidOption(message: string): PkiError {
  return new PkiError('pki-invalid-option', message);
}

function fileExists(paths: string[]): PkiError {
  const what = paths.length === 1 ? `${paths[0]} already exists` : `${paths.join(', ')} already exist`;
  return new PkiError('pki-file-exists', `refusing to overwrite: ${what}`);
}
