// `ztproxy posture --device ...`: a development device-posture assertion (SPEC §6)
// signed with the device agent key that `certs init` writes (certs/device-agent.key),
// as an MDM or endpoint agent would sign it. For demos and tests only: it counts where
// `device.issuers` trusts that key's JWKS (certs/device-agent.jwks.json) under the
// issuer name given here. Every posture field is optional — one left out is *unknown*
// to the policy, which is not the same as false.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT, importJWK, type JWK } from 'jose';
import { parseDuration } from '../basics/duration.ts';
import { DEFAULT_MAX_TOKEN_LIFETIME_MS } from '../basics/token-times.ts';
import { certificateThumbprint } from '../identity/jwt/index.ts';

export const DEV_DEVICE_ISSUER = 'device-agent.ztproxy.local';

const USAGE = `usage: ztproxy posture --device ID [--managed true|false] [--compliant true|false]
                       [--os-name macOS] [--os-version 14.2] [--patch-age-days N]
                       [--disk-encrypted true|false] [--firewall true|false] [--edr true|false]
                       [--screen-lock true|false] [--user SUB] [--bind-cert FILE]
                       [--ttl 5m] [--iss ${DEV_DEVICE_ISSUER}] [--dir certs] [--key FILE]
`;

const BOOLEAN_FLAGS = [
  ['managed', 'managed'],
  ['compliant', 'compliant'],
  ['disk-encrypted', 'diskEncrypted'],
  ['firewall', 'firewall'],
  ['edr', 'edr'],
  ['screen-lock', 'screenLock'],
] as const;

class UsageError extends Error {}

function bool(flag: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`--${flag} takes true or false, got "${value}"`);
}

export async function runPosture(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        device: { type: 'string' },
        managed: { type: 'string' },
        compliant: { type: 'string' },
        'os-name': { type: 'string' },
        'os-version': { type: 'string' },
        'patch-age-days': { type: 'string' },
        'disk-encrypted': { type: 'string' },
        firewall: { type: 'string' },
        edr: { type: 'string' },
        'screen-lock': { type: 'string' },
        user: { type: 'string' },
        'bind-cert': { type: 'string' },
        ttl: { type: 'string', default: '5m' },
        iss: { type: 'string', default: DEV_DEVICE_ISSUER },
        dir: { type: 'string', default: 'certs' },
        key: { type: 'string' },
      },
    }));
  } catch (e) {
    err.write(`ztproxy posture: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const posture: Record<string, unknown> = {};
  let ttlMs: number;
  try {
    if (!values.device) throw new UsageError('--device is required (the device id, the assertion\'s sub)');
    for (const [flag, field] of BOOLEAN_FLAGS) {
      const v = values[flag];
      if (v !== undefined) posture[field] = bool(flag, v);
    }
    const os: Record<string, string> = {};
    if (values['os-name'] !== undefined) os.name = values['os-name'];
    if (values['os-version'] !== undefined) os.version = values['os-version'];
    if (Object.keys(os).length > 0) posture.os = os;
    const age = values['patch-age-days'];
    if (age !== undefined) {
      if (!/^\d+(\.\d+)?$/.test(age)) throw new UsageError(`--patch-age-days takes a number of days, 0 or more, got "${age}"`);
      posture.patchAgeDays = Number(age);
    }
    try {
      ttlMs = parseDuration(values.ttl);
    } catch (e) {
      throw new UsageError(`--ttl ${(e as Error).message}`);
    }
    if (ttlMs < 1000) throw new UsageError('--ttl must be at least 1s');
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err.write(`ztproxy posture: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (ttlMs > DEFAULT_MAX_TOKEN_LIFETIME_MS) {
    err.write(`ztproxy posture: note: --ttl ${values.ttl} is above 24h; ztproxy refuses such an assertion (posture-lifetime-too-long) unless the issuer's device.issuers[].maxLifetime allows it\n`);
  }
  const keyFile = values.key ?? join(values.dir, 'device-agent.key');
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readFile(keyFile, 'utf8')) as JWK;
  } catch (e) {
    err.write(`ztproxy posture: cannot read the signing key ${keyFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); run \`ztproxy certs init\` first\n`);
    return 1;
  }
  const claims: Record<string, unknown> = { posture };
  if (values.user !== undefined) claims.uid = values.user;
  if (values['bind-cert'] !== undefined) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(await readFile(values['bind-cert']));
    } catch (e) {
      err.write(`ztproxy posture: cannot read the certificate ${values['bind-cert']} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})\n`);
      return 1;
    }
    // RFC 8705 §3.1: the assertion counts only over a TLS connection with this certificate.
    claims.cnf = { 'x5t#S256': certificateThumbprint(cert.raw) };
  }
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...(jwk.kid ? { kid: jwk.kid } : {}) })
    .setIssuer(values.iss)
    .setSubject(values.device)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.floor(ttlMs / 1000))
    .sign(await importJWK(jwk, 'ES256'));
  out.write(`${token}\n`);
  return 0;
}
