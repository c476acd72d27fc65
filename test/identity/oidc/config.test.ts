// identity.oidc and identity.session validation: every mistake that would weaken login
// is a config error naming the key.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../../src/config/load.ts';

const CERT = 'package.json';

function withIdentity(identity: Record<string, unknown>): string {
  return stringify({
    listen: { address: '127.0.0.1:8443', tls: { cert: CERT, key: CERT } },
    identity,
    routes: [{ name: 'app', upstream: 'http://127.0.0.1:9000', policy: { allow: { authenticated: true } } }],
  });
}

function problems(identity: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string[] {
  return parseConfig(withIdentity(identity), process.cwd(), env).errors;
}

const oidc = { issuer: 'https://idp.example.com', clientId: 'ztproxy', clientSecret: 'secret' };

describe('identity.oidc / identity.session config', () => {
  it('accepts a minimal OIDC config and fills defaults', () => {
    const { config, errors } = parseConfig(withIdentity({ oidc }), process.cwd(), {});
    expect(errors).toEqual([]);
    expect(config!.identity.oidc).toMatchObject({ scopes: ['openid', 'email', 'profile'], userinfo: true, timeout: 5000, groupsClaim: 'groups' });
    expect(config!.identity.session).toEqual({ ttl: 8 * 3600_000, idleTimeout: 30 * 60_000, store: 'cookie' });
  });

  it('takes ${ENV} secrets, as SPEC §3 shows', () => {
    const { config, errors } = parseConfig(
      withIdentity({ oidc: { ...oidc, clientSecret: '${OIDC_CLIENT_SECRET}' }, session: { keys: ['${SESSION_KEY}'] } }),
      process.cwd(),
      { OIDC_CLIENT_SECRET: 's3cret', SESSION_KEY: 'k'.repeat(40) },
    );
    expect(errors).toEqual([]);
    expect(config!.identity.session.keys).toEqual(['k'.repeat(40)]);
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ['plain http issuer off loopback', { oidc: { ...oidc, issuer: 'http://idp.example.com' } }, 'identity.oidc.issuer: must use https (plain http is accepted only for localhost, 127.0.0.0/8 and [::1])'],
    ['issuer with a query', { oidc: { ...oidc, issuer: 'https://idp.example.com/?x=1' } }, 'identity.oidc.issuer: must not have a query or fragment (OpenID Connect Discovery §2)'],
    ['issuer not a URL', { oidc: { ...oidc, issuer: 'idp' } }, "identity.oidc.issuer: must be an absolute https:// URL (the OpenID Provider's issuer identifier)"],
    ['no clientId', { oidc: { issuer: oidc.issuer } }, 'identity.oidc.clientId: is required'],
    ['empty secret', { oidc: { ...oidc, clientSecret: '' } }, 'identity.oidc.clientSecret: must not be empty (leave the key out for a public client)'],
    ['scopes without openid', { oidc: { ...oidc, scopes: ['email'] } }, 'identity.oidc.scopes: must include openid (an ID token is what a login proves)'],
    ['scope with a space', { oidc: { ...oidc, scopes: ['openid', 'a b'] } }, 'identity.oidc.scopes.1: must be one OAuth scope token (no spaces or quotes)'],
    ['unknown oidc key', { oidc: { ...oidc, clientSecert: 'x' } }, 'identity.oidc.clientSecert: unknown key'],
    ['short session key', { oidc, session: { keys: ['short'] } }, 'identity.session.keys.0: must be at least 32 characters (e.g. `openssl rand -base64 32`)'],
    ['repeated session key', { oidc, session: { keys: ['k'.repeat(32), 'k'.repeat(32)] } }, 'identity.session.keys: must not list the same key twice'],
    ['redis store', { oidc, session: { store: 'redis' } }, 'identity.session.store: must be cookie (the only session store this version has)'],
    ['idle longer than ttl', { oidc, session: { ttl: '1h', idleTimeout: '2h' } }, 'identity.session.idleTimeout: idleTimeout must not be longer than ttl'],
    ['ttl too short', { oidc, session: { ttl: '10s' } }, 'identity.session.ttl: must be from 1m to 30d'],
    ['post-logout URI over http', { oidc: { ...oidc, postLogoutRedirectUri: 'http://app.example.com/' } }, 'identity.oidc.postLogoutRedirectUri: must use https (plain http is accepted only for localhost, 127.0.0.0/8 and [::1])'],
  ];
  for (const [name, identity, expected] of cases) {
    it(`refuses ${name}`, () => {
      expect(problems(identity)).toContain(expected);
    });
  }

  it('names an unset ${ENV} secret', () => {
    expect(problems({ oidc, session: { keys: ['${SESSION_KEY}'] } }).join('\n')).toMatch(/identity\.session\.keys\.0: .*SESSION_KEY/);
  });
});
