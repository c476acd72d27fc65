// `ztproxy token --sub ...`: a development bearer token signed with the dev issuer key
// that `certs init` writes (certs/dev-issuer.key). For demos and tests only: the issuer
// is whatever `identity.jwt` trusts with that key's JWKS (certs/dev-issuer.jwks.json).
import { X509Certificate, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { SignJWT, importJWK, type JWK } from 'jose';
import { parseDuration } from '../basics/duration.ts';
import { DEFAULT_MAX_TOKEN_LIFETIME_MS } from '../basics/token-times.ts';

export const DEV_ISSUER = 'https://dev-issuer.ztproxy.local';
export const DEV_AUDIENCE = 'https://api.ztproxy.local';

const USAGE = `usage: ztproxy token --sub SUBJECT [--groups a,b] [--email E] [--email-unverified]
                     [--aud ${DEV_AUDIENCE}] [--iss ${DEV_ISSUER}] [--ttl 1h]
                     [--typ at+jwt] [--bind-cert certs/client.crt] [--claim name=value ...]
                     [--key certs/dev-issuer.key]
`;

export async function runToken(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        sub: { type: 'string' },
        groups: { type: 'string' },
        email: { type: 'string' },
        'email-unverified': { type: 'boolean' },
        aud: { type: 'string', default: DEV_AUDIENCE },
        iss: { type: 'string', default: DEV_ISSUER },
        ttl: { type: 'string', default: '1h' },
        typ: { type: 'string', default: 'at+jwt' },
        'bind-cert': { type: 'string' },
        claim: { type: 'string', multiple: true },
        key: { type: 'string', default: 'certs/dev-issuer.key' },
      },
    }));
  } catch (e) {
    err.write(`ztproxy token: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.sub) {
    err.write(`ztproxy token: --sub is required\n${USAGE}`);
    return 2;
  }
  let ttlMs: number;
  try {
    ttlMs = parseDuration(values.ttl);
  } catch (e) {
    err.write(`ztproxy token: --ttl ${(e as Error).message}\n`);
    return 2;
  }
  if (ttlMs > DEFAULT_MAX_TOKEN_LIFETIME_MS) {
    // Still minted (a test may want exactly this token), but say why the proxy refuses it.
    err.write(`ztproxy token: note: --ttl ${values.ttl} is above 24h; ztproxy refuses such a token (token-lifetime-too-long) unless the issuer's identity.jwt[].maxLifetime allows it\n`);
  }
  const extra: Record<string, string> = {};
  for (const pair of values.claim ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      err.write(`ztproxy token: --claim takes name=value, got "${pair}"\n`);
      return 2;
    }
    extra[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readFile(values.key, 'utf8')) as JWK;
  } catch (e) {
    err.write(`ztproxy token: cannot read the signing key ${values.key} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); run \`ztproxy certs init\` first\n`);
    return 1;
  }
  const claims: Record<string, unknown> = { ...extra };
  if (values.groups) claims.groups = values.groups.split(',').map((g) => g.trim()).filter((g) => g !== '');
  if (values.email) {
    claims.email = values.email;
    claims.email_verified = !values['email-unverified'];
  }
  if (values['bind-cert']) {
    const cert = new X509Certificate(await readFile(values['bind-cert']));
    // RFC 8705 §3.1: the token is only good over a TLS connection with this certificate.
    claims.cnf = { 'x5t#S256': createHash('sha256').update(cert.raw).digest('base64url') };
  }
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: values.typ, ...(jwk.kid ? { kid: jwk.kid } : {}) })
    .setIssuer(values.iss)
    .setAudience(values.aud)
    .setSubject(values.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.floor(ttlMs / 1000))
    .setJti(crypto.randomUUID())
    .sign(await importJWK(jwk, 'ES256'));
  out.write(`${token}\n`);
  return 0;
}
