import { randomBytes, randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';
import type { ClientMetadata, Configuration, KoaContextWithOIDC, ResourceServer } from 'oidc-provider';
import { renderLoginPage } from './login-page.ts';
import { DEMO_USERS } from './users.ts';
import type { DemoUser } from './users.ts';

export interface DevOpOptions {
  /** TCP port; 0 (the default) picks an ephemeral one. */
  port?: number;
  /** Only loopback: this OP speaks plain HTTP and has public demo passwords. */
  host?: '127.0.0.1';
  /** Registered clients (redirect URIs, back-channel logout URI, ...). */
  clients: ClientMetadata[];
  /** Lifetime of access tokens in seconds (default 300); short values exercise refresh. */
  accessTokenTtl?: number;
  /**
   * Resource indicator (RFC 8707) whose access tokens are JWTs (`typ: at+jwt`,
   * RFC 9068) signed with the OP's ES256 key. Default `urn:ztproxy:api`.
   */
  apiResource?: string;
  /**
   * PEM CA bundle trusted (besides the system's) for the OP's own calls to loopback
   * relying parties — the back-channel logout to a proxy with a dev certificate.
   */
  loopbackCa?: string;
}

export interface DevOp {
  readonly issuer: string;
  /** Base URL of the OP; equal to `issuer`. */
  readonly url: string;
  readonly users: readonly DemoUser[];
  /** The API resource whose access tokens are JWTs. */
  readonly apiResource: string;
  /** Successful token requests by grant type (tests count refreshes with it). */
  readonly grants: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

const ACR = 'urn:ztproxy:dev:pwd';
const MAX_FORM_BYTES = 8 * 1024;

/**
 * A public native client for `ztproxy login` (RFC 8252): no secret, PKCE only, and a
 * loopback redirect URI on any port — oidc-provider ignores the port of a loopback
 * redirect for `application_type: native` clients (RFC 8252 §7.3), so the CLI may bind
 * whatever port is free.
 */
export function cliClient(clientId: string): ClientMetadata {
  return {
    client_id: clientId,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
}

function validateOptions(opts: DevOpOptions): void {
  const problems: string[] = [];
  if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)) {
    problems.push('port: must be an integer in 0..65535');
  }
  if (opts.host !== undefined && opts.host !== '127.0.0.1') problems.push('host: must be 127.0.0.1');
  if (!Array.isArray(opts.clients) || opts.clients.length === 0) problems.push('clients: at least one client');
  if (opts.accessTokenTtl !== undefined && (!Number.isSafeInteger(opts.accessTokenTtl) || opts.accessTokenTtl <= 0)) {
    problems.push('accessTokenTtl: must be a positive integer (seconds)');
  }
  if (problems.length > 0) throw new TypeError(`invalid dev OP options:\n  ${problems.join('\n  ')}`);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // A login form is a few dozen bytes; refuse to buffer anything large.
      if (size > MAX_FORM_BYTES) {
        reject(new Error('form too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

// Compare digests so neither the length nor the content of the password leaks
// through timing (dev-only passwords, but the habit is cheap).
function passwordMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    // The page carries a live interaction; never cache it, never frame it
    // (clickjacking a login form).
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    // No form-action: Chromium applies it to the redirects after the POST too, and the
    // login ends with a redirect to the relying party's callback on another origin.
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  });
  res.end(html);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Start a development OpenID Provider on loopback, on `oidc-provider` (a certified
 * OP), with the demo users, a password login page and no consent screen.
 */
export async function startDevOp(opts: DevOpOptions): Promise<DevOp> {
  validateOptions(opts);
  const host = opts.host ?? '127.0.0.1';
  const accessTokenTtl = opts.accessTokenTtl ?? 300;
  const apiResource = opts.apiResource ?? 'urn:ztproxy:api';

  // The port is part of the issuer, so bind first and build the provider after (the
  // server answers 503 until then, so `handler` cannot be a const).
  // eslint-disable-next-line prefer-const
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (handler === undefined) sendText(res, 503, 'starting');
    else handler(req, res);
  });
  const port = await listen(server, opts.port ?? 0, host);
  const issuer = `http://${host}:${port}`;

  // Fresh ES256 keys each start: nothing signed by a previous run stays valid.
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingJwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'ES256', use: 'sig' };

  // Node's fetch is undici's; an Agent with the dev CA lets it reach a proxy on loopback.
  const loopbackAgent = opts.loopbackCa === undefined ? undefined : new Agent({ connect: { ca: [...rootCertificates, opts.loopbackCa] } });
  const usersByName = new Map(DEMO_USERS.map((u) => [u.username, u]));

  const apiResourceServer: ResourceServer = {
    scope: 'api',
    audience: apiResource,
    accessTokenTTL: accessTokenTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  };

  const configuration: Configuration = {
    clients: opts.clients,
    clientDefaults: {
      // The only key is ES256; the library's default (RS256) would have no key.
      id_token_signed_response_alg: 'ES256',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    acrValues: [ACR],
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'api'],
    claims: {
      // acr/amr/auth_time come from the login, not the account; listing them under
      // `openid` lets them into the ID token (policy's authAge and step-up use them).
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name', 'groups'],
      groups: ['groups'],
    },
    // Scope-requested claims go into the ID token as well as userinfo, so a relying
    // party gets `groups`/`email` without a userinfo round trip.
    conformIdTokenClaims: false,
    // PKCE for every client, confidential ones included (OAuth 2.0 Security BCP,
    // RFC 9700 §2.1.1); the library only implements S256.
    pkce: { required: () => true },
    // A refresh token for every client allowed the grant, without the consent
    // prompt `offline_access` would require: the proxy renews sessions with it.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // RFC 9068 access tokens for the API resource carry what the proxy's policies read
    // (groups, a verified email): the CLI's token is its only credential at the proxy,
    // with no session or userinfo behind it.
    extraTokenClaims: async (_ctx, token) => {
      if (token.kind !== 'AccessToken' || token.aud !== apiResource || token.accountId === undefined) return undefined;
      const user = usersByName.get(token.accountId);
      return user === undefined ? undefined : { email: user.email, email_verified: true, groups: [...user.groups] };
    },
    findAccount: async (_ctx, sub) => {
      const user = usersByName.get(sub);
      if (user === undefined) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          email: user.email,
          email_verified: true,
          name: user.name,
          groups: [...user.groups],
        }),
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      RefreshToken: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No default resource: an access token without `resource` stays opaque
        // and usable at userinfo (which refuses audience-restricted tokens); a
        // client asking for `resource=<apiResource>` gets an RFC 9068 JWT.
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource) => {
          if (resource !== apiResource) throw new errors.InvalidTarget();
          return apiResourceServer;
        },
      },
    },
    // The library refuses outgoing requests to special-use addresses (SSRF); the
    // dev OP's back-channel logout targets a proxy on loopback, so only loopback
    // targets bypass that guard.
    fetch: (url, options) => {
      const target = new URL(url);
      if (LOOPBACK_HOSTS.has(target.hostname)) {
        const { dispatcher: _guard, ...rest } = options as RequestInit & { dispatcher?: unknown };
        if (loopbackAgent === undefined) return fetch(url, rest);
        return undiciFetch(typeof url === 'string' ? url : url instanceof URL ? url.href : url.url, { ...(rest as object), dispatcher: loopbackAgent });
      }
      return fetch(url, options);
    },
    renderError: async (ctx: KoaContextWithOIDC, out) => {
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = `${out.error}: ${out.error_description ?? ''}\n`;
    },
  };

  const provider = new Provider(issuer, configuration);
  // A back-channel logout that fails leaves a session alive at the relying party: say so.
  provider.on('backchannel.error', (_ctx: unknown, err: Error, client: { clientId: string }) => {
    process.stderr.write(`dev OP: back-channel logout to ${client.clientId} failed: ${err.message}${err.cause ? ` (${String((err.cause as Error).message ?? err.cause)})` : ''}\n`);
  });
  const grants: Record<string, number> = {};
  let closing: Promise<void> | undefined;
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantType = ctx.oidc.params?.['grant_type'];
    const type = typeof grantType === 'string' ? grantType : 'unknown';
    grants[type] = (grants[type] ?? 0) + 1;
  });
  const providerCallback = provider.callback();

  async function handleInteraction(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(path);
    if (match === null) return sendText(res, 404, 'not found');
    // interactionDetails binds the uid to the browser's interaction cookie, so a
    // form POSTed from another site (without that cookie and uid) cannot log in.
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== match[1]) return sendText(res, 400, 'interaction mismatch');
    const clientId = typeof details.params.client_id === 'string' ? details.params.client_id : '';

    if (match[2] === undefined && req.method === 'GET') {
      if (details.prompt.name === 'login') {
        return sendHtml(res, 200, renderLoginPage({ uid: details.uid, clientId }));
      }
      if (details.prompt.name === 'consent') {
        // No consent screen: every registered client is first-party in the demo.
        const accountId = details.session?.accountId;
        if (accountId === undefined) return sendText(res, 400, 'no session');
        const grant = details.grantId !== undefined
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId, clientId });
        if (grant === undefined) return sendText(res, 400, 'grant not found');
        const missing = details.prompt.details as {
          missingOIDCScope?: string[];
          missingOIDCClaims?: string[];
          missingResourceScopes?: Record<string, string[]>;
        };
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
        return;
      }
      return sendText(res, 400, `unsupported prompt ${details.prompt.name}`);
    }

    if (match[2] === '/login' && req.method === 'POST') {
      if (details.prompt.name !== 'login') return sendText(res, 400, 'not a login prompt');
      const form = await readForm(req);
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      const user = usersByName.get(username);
      // Compare against a dummy for unknown users so timing does not reveal which
      // names exist.
      const ok = passwordMatches(password, user?.password ?? '\0no-such-user') && user !== undefined;
      if (!ok) {
        return sendHtml(res, 401, renderLoginPage({ uid: details.uid, clientId, username, error: 'Invalid username or password.' }));
      }
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: user.username, acr: ACR, amr: ['pwd'] } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    return sendText(res, 405, 'method not allowed');
  }

  handler = (req, res) => {
    const path = new URL(req.url ?? '/', issuer).pathname;
    if (path.startsWith('/interaction/')) {
      handleInteraction(req, res, path).catch((err: unknown) => {
        // SessionNotFound and friends: an expired or foreign interaction.
        if (!res.headersSent) sendText(res, 400, err instanceof Error ? err.message : 'interaction failed');
        else res.destroy();
      });
      return;
    }
    // Koa's callback answers its own errors; a rejection escaping it must not end the process.
    void Promise.resolve(providerCallback(req, res)).catch(() => {
      if (!res.headersSent) sendText(res, 500, 'internal error');
      else res.destroy();
    });
  };

  return {
    issuer,
    url: issuer,
    users: DEMO_USERS,
    apiResource,
    grants,
    close: () => {
      // Idempotent: a test may stop the OP (provider down) before its own teardown.
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
        loopbackAgent?.close().catch(() => undefined);
      });
      return closing;
    },
  };
}
