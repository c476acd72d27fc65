// Bearer-token fixtures: issuer key pairs, a JWKS as a file and from a real loopback HTTP
// server that counts every request it gets (so a test can assert a header URL was never
// fetched, or how often a key set was refetched), and token minting — honest tokens with
// jose, and hand-assembled ones for the attacks jose itself refuses to produce.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompactSign,
  base64url,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose';
import type { BearerAlgorithm } from '../../src/identity/jwt/index.ts';

export interface TestKey {
  readonly alg: BearerAlgorithm;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public JWK as published, with kid, alg and use. */
  readonly publicJwk: JWK;
  readonly publicPem: string;
}

let kidSeq = 0;

export async function makeKey(alg: BearerAlgorithm, kid = `${alg.toLowerCase()}-${++kidSeq}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export function jwksOf(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

export interface TempJwksFile {
  readonly path: string;
  cleanup(): Promise<void>;
}

export async function writeJwksFile(jwks: unknown): Promise<TempJwksFile> {
  const dir = await mkdtemp(join(tmpdir(), 'ztproxy-jwks-'));
  const path = join(dir, 'jwks.json');
  await writeFile(path, JSON.stringify(jwks));
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface JwksServer {
  /** Origin, e.g. http://127.0.0.1:40123 */
  readonly origin: string;
  /** Where the JWKS is served: `${origin}/jwks`. */
  readonly jwksUrl: string;
  /** Requests received for a path (or for every path). */
  hits(path?: string): number;
  setJwks(jwks: unknown): void;
  /** Answer every request with this status (and no JWKS) until set back to 200. */
  setStatus(status: number): void;
  /** Serve this raw body at /jwks instead of the JWKS. */
  setBody(body: string | undefined): void;
  /** Accept requests but never answer them (a hung IdP). */
  setHang(hang: boolean): void;
  close(): Promise<void>;
}

/** A JWKS endpoint on 127.0.0.1, port 0. Every other path answers 404 but is counted too. */
export async function startJwksServer(initial: unknown): Promise<JwksServer> {
  let jwks = initial;
  let status = 200;
  let body: string | undefined;
  let hang = false;
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (hang) return;
    if (status !== 200) {
      res.writeHead(status).end();
    } else if (path === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body ?? JSON.stringify(jwks));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    jwksUrl: `${origin}/jwks`,
    hits: (path) => (path === undefined ? [...hits.values()].reduce((a, b) => a + b, 0) : (hits.get(path) ?? 0)),
    setJwks: (next) => {
      jwks = next;
    },
    setStatus: (next) => {
      status = next;
    },
    setBody: (next) => {
      body = next;
    },
    setHang: (next) => {
      hang = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'https://api.test';

/** Claims of a good access token at `now` (epoch s): iss, aud, sub, iat, exp (+5 min), jti. */
export function accessClaims(now: number, overrides: JWTPayload = {}, issuer = ISSUER): JWTPayload {
  return { iss: issuer, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 300, jti: `jti-${++kidSeq}`, ...overrides };
}

/** Drops claims from a claims set (to mint a token without exp, sub, …). */
export function without(claims: JWTPayload, ...names: string[]): JWTPayload {
  const out = { ...claims };
  for (const n of names) delete out[n];
  return out;
}

/** A token signed by `key` with its kid and alg; `header` adds or overrides parameters. */
export async function mint(key: TestKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const protectedHeader = { alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header } as JWTHeaderParameters;
  for (const [k, v] of Object.entries(protectedHeader)) if (v === undefined) delete (protectedHeader as Record<string, unknown>)[k];
  const crit = Array.isArray(protectedHeader.crit) ? Object.fromEntries(protectedHeader.crit.map((c) => [c, true])) : undefined;
  return new SignJWT(claims).setProtectedHeader(protectedHeader).sign(key.privateKey, crit ? { crit } : undefined);
}

/** Assembles a compact token from parts as given — for `alg: none` and other shapes no signer produces. */
export function rawToken(header: unknown, payload: unknown, signature = ''): string {
  return `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.${signature}`;
}

/**
 * A token whose payload is exactly `payloadJson`, signed by `key`: for claims no JWT
 * builder writes (`"exp": 1e400`, which JSON.parse reads as Infinity; `-0`; 2^53 + 1).
 */
export async function mintRawPayload(key: TestKey, payloadJson: string, header: Record<string, unknown> = {}): Promise<string> {
  return new CompactSign(new TextEncoder().encode(payloadJson))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header })
    .sign(key.privateKey);
}
