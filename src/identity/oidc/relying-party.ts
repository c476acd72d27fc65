// The OpenID Connect relying party (SPEC §5), on openid-client: discovery (cached,
// retried at a bounded rate), the authorization code flow with PKCE S256, state, nonce
// and the RFC 9207 `iss` check, refresh, token revocation and the end-session URL; and
// the back-channel logout token check (OIDC Back-Channel Logout 1.0 §2.6) on jose.
// It answers with data or a typed error; what a browser sees is decided in
// ../../pipeline/stages/login.ts.
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { ZtError } from '../../basics/errors.ts';
import { BEARER_ALGORITHMS } from '../jwt/schema.ts';
import type { OidcConfig } from './schema.ts';
import { isNumericDate } from '../../basics/token-times.ts';

/** Discovery results older than this are refreshed in the background (the old one stays in use). */
const DISCOVERY_MAX_AGE_MS = 3600_000;
/** After a failed discovery, logins answer 503 at once for this long before trying again. */
const DISCOVERY_RETRY_MS = 2000;
/**
 * A login sends the browser to the provider only if the provider answered within this
 * long (else discovery is fetched again first): a provider that is down gives a clear
 * 503 here rather than a browser error page there.
 */
const LIVENESS_MS = 5000;
/** A logout token older than this is refused (its `iat`), and its `jti` is remembered this long. */
const LOGOUT_TOKEN_MAX_AGE_S = 300;
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const LOGOUT_TYPS = new Set(['logout+jwt', 'jwt']);

/** The provider cannot be reached (or answered something unusable): a 503, not the user's fault. */
export class OidcUnavailableError extends ZtError {
  constructor(message: string, options?: ErrorOptions) {
    super('ZT_OIDC_UNAVAILABLE', message, options);
  }
}

/** The login (or refresh, or logout token) was refused; `reason` is for the log only. */
export class OidcRejectedError extends ZtError {
  readonly reason: string;
  constructor(reason: string, message: string, options?: ErrorOptions) {
    super('ZT_OIDC_REJECTED', message, options);
    this.reason = reason;
  }
}

/** What a finished login or refresh gives the session. */
export interface OidcTokens {
  /** Verified ID token claims merged with userinfo (ID token wins on `sub`/`iss`). */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly idToken: string | undefined;
  readonly refreshToken: string | undefined;
  /** Epoch seconds the access token expires, if the provider said. */
  readonly accessTokenExp: number | undefined;
}

/** The secrets of one login in flight, kept in the browser's encrypted flow cookie. */
export interface LoginSecrets {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly redirectUri: string;
}

export interface LogoutEvent {
  /** The provider's issuer identifier, as its ID tokens (and so our sessions) carry it. */
  readonly iss: string;
  readonly sid: string | undefined;
  readonly sub: string | undefined;
  readonly iat: number;
}

function isHttpIssuer(issuer: string): boolean {
  return issuer.startsWith('http:');
}

/** True for errors where the provider did not answer properly (network, timeout, 5xx). */
function isUnavailable(err: unknown): boolean {
  if (err instanceof client.ResponseBodyError) return err.status >= 500;
  const code = (err as { code?: string }).code;
  // openid-client's own argument checks (e.g. an empty expected subject) are not outages.
  if (typeof code === 'string' && code.startsWith('ERR_INVALID_ARG')) return false;
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON') return true;
  const name = (err as { name?: string }).name;
  return name === 'TimeoutError' || name === 'AbortError' || err instanceof TypeError;
}

export class RelyingParty {
  readonly config: OidcConfig;
  #discovered: client.Configuration | undefined;
  #discoveredAt = 0;
  #discovering: Promise<client.Configuration> | undefined;
  #failedAt = 0;
  /** When the provider last answered (discovery, token, userinfo). */
  #lastContact = 0;
  #lastError: unknown;
  #jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  readonly #seenLogoutJti = new LRUCache<string, true>({ max: 100_000, ttl: LOGOUT_TOKEN_MAX_AGE_S * 2000 });

  constructor(config: OidcConfig) {
    this.config = config;
  }

  /** Starts discovery in the background (a failure is retried by the next login). */
  warmUp(onError: (err: unknown) => void): void {
    this.discovery().catch(onError);
  }

  /**
   * The provider's metadata and this client, discovered once and cached. With
   * `maxSilenceMs`, the cache counts only if the provider answered within that long;
   * otherwise discovery is fetched again first (a login's check that the provider is up).
   */
  discovery(maxSilenceMs = Number.POSITIVE_INFINITY): Promise<client.Configuration> {
    const now = Date.now();
    if (this.#discovered !== undefined && now - this.#lastContact < maxSilenceMs) {
      if (now - this.#discoveredAt > DISCOVERY_MAX_AGE_MS && this.#discovering === undefined) {
        this.#discover().catch(() => undefined);
      }
      return Promise.resolve(this.#discovered);
    }
    if (this.#discovering !== undefined) return this.#discovering;
    if (now - this.#failedAt < DISCOVERY_RETRY_MS) {
      return Promise.reject(new OidcUnavailableError('OpenID Provider discovery failed recently', { cause: this.#lastError }));
    }
    return this.#discover();
  }

  #discover(): Promise<client.Configuration> {
    const c = this.config;
    const auth = c.clientSecret === undefined ? client.None() : client.ClientSecretBasic(c.clientSecret);
    const p = client
      .discovery(new URL(c.issuer), c.clientId, c.clientSecret === undefined ? { token_endpoint_auth_method: 'none' } : undefined, auth, {
        timeout: c.timeout / 1000,
        // The ID token's signature is checked against the provider's JWKS too, not only
        // trusted because it came over the token endpoint's TLS (OIDC Core §3.1.3.7
        // allows that shortcut; a loopback issuer has no TLS, and defence in depth).
        execute: isHttpIssuer(c.issuer) ? [client.allowInsecureRequests, client.enableNonRepudiationChecks] : [client.enableNonRepudiationChecks],
      })
      .then(
        (configuration) => {
          this.#discovered = configuration;
          this.#discoveredAt = Date.now();
          this.#lastContact = this.#discoveredAt;
          this.#discovering = undefined;
          const jwksUri = configuration.serverMetadata().jwks_uri;
          this.#jwks = jwksUri ? createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: c.timeout, cooldownDuration: 30_000 }) : undefined;
          return configuration;
        },
        (err: unknown) => {
          this.#discovering = undefined;
          this.#failedAt = Date.now();
          this.#lastError = err;
          throw new OidcUnavailableError(`OpenID Provider discovery failed: ${(err as Error).message}`, { cause: err });
        },
      );
    this.#discovering = p;
    return p;
  }

  /** Fresh secrets for a login and the provider URL to send the browser to. */
  async startLogin(redirectUri: string, opts: { reauth: boolean; flowId: string }): Promise<{ url: URL; secrets: LoginSecrets }> {
    const configuration = await this.discovery(LIVENESS_MS);
    const verifier = client.randomPKCECodeVerifier();
    // The flow id is part of the state, so the callback finds its own flow cookie
    // (several tabs may be logging in at once).
    const secrets: LoginSecrets = {
      state: `${opts.flowId}.${client.randomState()}`,
      nonce: client.randomNonce(),
      verifier,
      redirectUri,
    };
    const params: Record<string, string> = {
      redirect_uri: redirectUri,
      scope: this.config.scopes.join(' '),
      response_type: 'code',
      state: secrets.state,
      nonce: secrets.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    };
    // Step-up: the policy wants a fresher login than the session has.
    if (opts.reauth) {
      params['prompt'] = 'login';
      params['max_age'] = '0';
    }
    return { url: client.buildAuthorizationUrl(configuration, params), secrets };
  }

  /**
   * The callback: checks state, `iss` (RFC 9207), redeems the code with the PKCE
   * verifier, verifies the ID token (signature, iss, aud, exp, nonce) and reads userinfo.
   */
  async finishLogin(secrets: LoginSecrets, query: string, reauth: boolean): Promise<OidcTokens> {
    const configuration = await this.discovery();
    const current = new URL(secrets.redirectUri);
    current.search = query;
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(configuration, current, {
        pkceCodeVerifier: secrets.verifier,
        expectedState: secrets.state,
        expectedNonce: secrets.nonce,
        idTokenExpected: true,
        ...(reauth ? { maxAge: 0 } : {}),
      });
    } catch (err) {
      if (isUnavailable(err)) throw new OidcUnavailableError(`token request failed: ${(err as Error).message}`, { cause: err });
      throw new OidcRejectedError(rejectionReason(err), (err as Error).message, { cause: err });
    }
    this.#lastContact = Date.now();
    const idClaims = tokens.claims();
    if (idClaims === undefined) throw new OidcRejectedError('no-id-token', 'the provider returned no ID token');
    checkIdTokenTimes(idClaims);
    // Userinfo adds claims; it never replaces what the signed ID token says.
    const claims = { ...(await this.#userinfo(configuration, tokens.access_token, idClaims.sub)), ...idClaims };
    return tokenResult(tokens, claims);
  }

  /** Userinfo claims for `sub` (checked to match), or none when not configured or offered. */
  async #userinfo(configuration: client.Configuration, accessToken: string | undefined, sub: string): Promise<Record<string, unknown>> {
    if (!this.config.userinfo || !configuration.serverMetadata().userinfo_endpoint || !accessToken) return {};
    try {
      return await client.fetchUserInfo(configuration, accessToken, sub);
    } catch (err) {
      if (isUnavailable(err)) throw new OidcUnavailableError(`userinfo request failed: ${(err as Error).message}`, { cause: err });
      throw new OidcRejectedError('userinfo-refused', (err as Error).message, { cause: err });
    }
  }

  /**
   * Renews with a refresh token. A refusal (invalid_grant: revoked, expired, user gone)
   * is an OidcRejectedError — the session ends; no answer is an OidcUnavailableError —
   * the session goes on as it is and the refresh is tried again later.
   */
  async refresh(refreshToken: string, expected: { sub: string; claims: Readonly<Record<string, unknown>> }): Promise<OidcTokens> {
    const configuration = await this.discovery();
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      tokens = await client.refreshTokenGrant(configuration, refreshToken);
    } catch (err) {
      if (isUnavailable(err)) throw new OidcUnavailableError(`refresh failed: ${(err as Error).message}`, { cause: err });
      throw new OidcRejectedError(rejectionReason(err), (err as Error).message, { cause: err });
    }
    this.#lastContact = Date.now();
    const idClaims = tokens.claims();
    if (idClaims !== undefined) checkIdTokenTimes(idClaims);
    if (idClaims !== undefined && idClaims.sub !== expected.sub) {
      throw new OidcRejectedError('refresh-subject-changed', 'the refreshed ID token names another subject');
    }
    // Without a new ID token the login's claims stay (OIDC Core §12.2).
    if (idClaims === undefined) return tokenResult(tokens, expected.claims);
    // With one, its claims (and userinfo's) replace the old: a group the user lost at the
    // provider is gone now, even if the provider leaves an empty groups claim out. What
    // describes the login itself stays when the new token omits it (§12.2).
    const claims: Record<string, unknown> = { ...(await this.#userinfo(configuration, tokens.access_token, idClaims.sub)), ...idClaims };
    for (const name of ['auth_time', 'acr', 'amr']) if (claims[name] === undefined && expected.claims[name] !== undefined) claims[name] = expected.claims[name];
    return tokenResult(tokens, claims);
  }

  /** Best effort: tell the provider the refresh token is no longer needed (RFC 7009). */
  async revoke(refreshToken: string): Promise<void> {
    const configuration = await this.discovery();
    if (!configuration.serverMetadata().revocation_endpoint) return;
    await client.tokenRevocation(configuration, refreshToken, { token_type_hint: 'refresh_token' });
  }

  /** The provider's end-session URL (RP-Initiated Logout), or undefined if it has none. */
  async endSessionUrl(idToken: string | undefined): Promise<URL | undefined> {
    const configuration = await this.discovery();
    if (!configuration.serverMetadata().end_session_endpoint) return undefined;
    const params: Record<string, string> = { client_id: this.config.clientId };
    if (idToken !== undefined) params['id_token_hint'] = idToken;
    if (this.config.postLogoutRedirectUri !== undefined) params['post_logout_redirect_uri'] = this.config.postLogoutRedirectUri;
    return client.buildEndSessionUrl(configuration, params);
  }

  /** Verifies a back-channel logout token; throws OidcRejectedError for anything wrong. */
  async verifyLogoutToken(token: string): Promise<LogoutEvent> {
    const configuration = await this.discovery();
    const jwks = this.#jwks;
    if (jwks === undefined) throw new OidcRejectedError('no-jwks', 'the provider publishes no jwks_uri');
    const metadata = configuration.serverMetadata();
    const offered = metadata.id_token_signing_alg_values_supported;
    const algorithms = (BEARER_ALGORITHMS as readonly string[]).filter((a) => offered === undefined || offered.includes(a));
    let payload: JWTPayload;
    let protectedHeader: JWTHeaderParameters;
    try {
      ({ payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer: metadata.issuer,
        audience: this.config.clientId,
        algorithms,
        requiredClaims: ['iat', 'exp', 'jti', 'events'],
        maxTokenAge: LOGOUT_TOKEN_MAX_AGE_S,
        clockTolerance: 60,
      }));
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'ERR_JWKS_TIMEOUT' || (err instanceof TypeError && !code)) {
        throw new OidcUnavailableError(`provider keys unavailable: ${(err as Error).message}`, { cause: err });
      }
      throw new OidcRejectedError(`logout-token-${code.replace(/^ERR_/, '').toLowerCase().replaceAll('_', '-') || 'invalid'}`, (err as Error).message, { cause: err });
    }
    // `typ: logout+jwt` is only RECOMMENDED (Back-Channel Logout 1.0 §2.4) and several
    // providers send `JWT` or nothing; any other type (an access token's `at+jwt`, ...) is
    // refused. The `events` claim and the absence of `nonce` tell it from an ID token.
    if (!LOGOUT_TYPS.has(String(protectedHeader.typ ?? 'jwt').toLowerCase().replace(/^application\//, ''))) {
      throw new OidcRejectedError('logout-token-typ', `typ ${String(protectedHeader.typ)} is not a logout token's`);
    }
    const events = payload['events'];
    if (typeof events !== 'object' || events === null || Array.isArray(events)) throw new OidcRejectedError('logout-token-events', 'events is not an object');
    const event = (events as Record<string, unknown>)[LOGOUT_EVENT];
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      throw new OidcRejectedError('logout-token-events', 'events lacks the back-channel logout event');
    }
    // A nonce would make it an ID token (the spec forbids one, to tell them apart).
    if (payload['nonce'] !== undefined) throw new OidcRejectedError('logout-token-nonce', 'a logout token carries no nonce');
    const sid = typeof payload['sid'] === 'string' && payload['sid'] !== '' ? payload['sid'] : undefined;
    const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    if (sid === undefined && sub === undefined) throw new OidcRejectedError('logout-token-no-subject', 'a logout token names a sid or a sub');
    const jti = String(payload.jti);
    if (this.#seenLogoutJti.has(jti)) throw new OidcRejectedError('logout-token-replayed', 'this logout token was used before');
    this.#seenLogoutJti.set(jti, true);
    return { iss: metadata.issuer, sid, sub, iat: payload.iat! };
  }
}

/** Clock skew allowed for times a provider puts in ID tokens (as for bearer tokens). */
const FUTURE_SKEW_S = 60;

/**
 * What openid-client leaves to the caller: a non-empty `sub`, and no `iat` or
 * `auth_time` in the future (a token from a broken or lying clock would stay "fresh" —
 * for `authAge` rules — for as long as it is ahead).
 */
function checkIdTokenTimes(claims: Readonly<Record<string, unknown>>): void {
  if (typeof claims['sub'] !== 'string' || claims['sub'] === '') throw new OidcRejectedError('id-token-sub', 'the ID token has no subject');
  // oauth4webapi only type-checks them: `exp: 1e400` (Infinity) or 1e308 would pass. The
  // ID token does not set the session's length (identity.session.ttl does), so its
  // lifetime is not capped — IdPs legitimately issue ID tokens for days (Auth0: up to
  // 30 d) — but a time that is no date at all means a broken or forged token.
  if (!isNumericDate(claims['exp']) || !isNumericDate(claims['iat'])) {
    throw new OidcRejectedError('id-token-time-invalid', 'the ID token\'s exp or iat is not a date from 1970 to 9999');
  }
  const now = Math.floor(Date.now() / 1000);
  const iat = claims['iat'];
  if (typeof iat === 'number' && iat > now + FUTURE_SKEW_S) throw new OidcRejectedError('id-token-iat-future', 'the ID token was issued in the future');
  const authTime = claims['auth_time'];
  if (authTime !== undefined && (typeof authTime !== 'number' || !Number.isFinite(authTime) || authTime > now + FUTURE_SKEW_S)) {
    throw new OidcRejectedError('id-token-auth-time', 'the ID token\'s auth_time is not a past time');
  }
}

function rejectionReason(err: unknown): string {
  if (err instanceof client.ResponseBodyError) return `provider-${err.error}`;
  if (err instanceof client.AuthorizationResponseError) return `authorization-${err.error}`;
  const message = (err as Error).message ?? '';
  if (/"iss"/.test(message)) return 'iss-mismatch';
  if (/state/.test(message)) return 'state-mismatch';
  if (/nonce/.test(message)) return 'nonce-mismatch';
  return 'invalid-response';
}

function tokenResult(tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, claims: Readonly<Record<string, unknown>>): OidcTokens {
  const expiresIn = tokens.expiresIn();
  return {
    claims,
    idToken: tokens.id_token,
    refreshToken: tokens.refresh_token,
    accessTokenExp: expiresIn === undefined ? undefined : Math.floor(Date.now() / 1000) + expiresIn,
  };
}
