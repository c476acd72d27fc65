// `identity.cli` validation: the CLI's access tokens come back as bearer tokens, so a
// config where no identity.jwt entry would accept them is an error (else every CLI login
// ends in a 401), and so is a CLI client that is the proxy's confidential client.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { cliConfigurationJson } from '../../src/pipeline/stages/cli-configuration.ts';
import { reservedAnswer } from '../../src/pipeline/stages/reserved-paths.ts';

const CERT = 'package.json'; // load checks readability, not content
const OP = 'https://op.example.com';
const JWT = { issuer: OP, audience: 'https://api.example.com', jwksUri: `${OP}/jwks`, algorithms: ['ES256'] };

function withIdentity(identity: unknown, extra: Record<string, unknown> = {}): ReturnType<typeof parseConfig> {
  return parseConfig(
    stringify({
      listen: { address: '127.0.0.1:8443', tls: { cert: CERT, key: CERT } },
      identity,
      routes: [{ name: 'app', upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } } }],
      ...extra,
    }),
    process.cwd(),
    {},
  );
}

describe('identity.cli config', () => {
  it('defaults the scopes and takes the issuer from identity.oidc', () => {
    const { config, errors } = withIdentity({ oidc: { issuer: OP, clientId: 'proxy', clientSecret: 's3cret' }, cli: { clientId: 'cli' }, jwt: [JWT] });
    expect(errors).toEqual([]);
    expect(config?.identity.cli).toEqual({ clientId: 'cli', scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'] });
    expect(JSON.parse(cliConfigurationJson(config!)!)).toEqual({ issuer: OP, client_id: 'cli', scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'] });
    expect(cliConfigurationJson(config!)).not.toContain('s3cret');
  });

  it('publishes an explicit issuer, the resource and the posture header name', () => {
    const { config, errors } = withIdentity(
      { cli: { issuer: OP, clientId: 'cli', resource: 'https://api.example.com', scopes: ['openid', 'api'] }, jwt: [JWT] },
      { device: { header: 'X-Posture', issuers: [{ issuer: 'agent.example', jwksFile: CERT, algorithms: ['ES256'] }] } },
    );
    expect(errors).toEqual([]);
    expect(JSON.parse(cliConfigurationJson(config!)!)).toEqual({
      issuer: OP,
      client_id: 'cli',
      scopes: ['openid', 'api'],
      resource: 'https://api.example.com',
      device_header: 'X-Posture',
    });
  });

  it('has no metadata without identity.cli', () => {
    const { config } = withIdentity({ jwt: [JWT] });
    expect(cliConfigurationJson(config!)).toBeUndefined();
  });

  it.each<[string, unknown, string[]]>([
    ['no issuer anywhere', { cli: { clientId: 'cli' }, jwt: [JWT] }, ['identity.cli.issuer: is required when identity.oidc is not configured (the OpenID Provider the CLI logs in at)']],
    [
      'no identity.jwt at all',
      { cli: { issuer: OP, clientId: 'cli' } },
      [`identity.cli: no identity.jwt entry accepts the CLI's tokens: the CLI presents its access token as a bearer token, so add one with issuer ${OP}, audience the audience of its access tokens and the provider's jwksUri`],
    ],
    [
      'identity.jwt for another issuer',
      { cli: { issuer: OP, clientId: 'cli', resource: 'https://api.example.com' }, jwt: [{ ...JWT, issuer: 'https://other.example.com' }] },
      [`identity.cli: no identity.jwt entry accepts the CLI's tokens: the CLI presents its access token as a bearer token, so add one with issuer ${OP}, audience https://api.example.com and the provider's jwksUri`],
    ],
    [
      'a resource the jwt entry does not list as audience',
      { cli: { issuer: OP, clientId: 'cli', resource: 'urn:other' }, jwt: [JWT] },
      [`identity.cli.resource: no identity.jwt entry with issuer ${OP} lists audience urn:other: the CLI's access tokens carry it as aud and would all be refused; add it to that entry's audience`],
    ],
    [
      "the proxy's confidential client",
      { oidc: { issuer: OP, clientId: 'proxy', clientSecret: 's3cret' }, cli: { clientId: 'proxy' }, jwt: [JWT] },
      [
        "identity.cli.clientId: is the proxy's confidential client (identity.oidc.clientId, which has a secret): register a separate public client for the CLI (token_endpoint_auth_method none, loopback redirect http://127.0.0.1/…)",
      ],
    ],
    ['scopes without openid', { cli: { issuer: OP, clientId: 'cli', scopes: ['email'] }, jwt: [JWT] }, ['identity.cli.scopes: must include openid (the ID token names who logged in)']],
    ['a plain-http issuer', { cli: { issuer: 'http://op.example.com', clientId: 'cli' }, jwt: [JWT] }, ['identity.cli.issuer: must use https (plain http is accepted only for localhost, 127.0.0.0/8 and [::1])']],
    ['a resource with a fragment', { cli: { issuer: OP, clientId: 'cli', resource: 'https://api.example.com#x' }, jwt: [JWT] }, ['identity.cli.resource: must be an absolute URI without a fragment (RFC 8707 §2), e.g. https://api.example.com or urn:example:api']],
    ['an unknown key', { cli: { issuer: OP, clientId: 'cli', clientSecret: 'x' }, jwt: [JWT] }, ['identity.cli.clientSecret: unknown key']],
    ['no client id', { cli: { issuer: OP }, jwt: [JWT] }, ['identity.cli.clientId: is required']],
  ])('%s', (_name, identity, expected) => {
    expect(withIdentity(identity).errors).toEqual(expected);
  });
});

describe('/.well-known/ztproxy/cli-configuration for described requests (explain, policy tests)', () => {
  const path = '/.well-known/ztproxy/cli-configuration';
  it('is answered by ztproxy itself with identity.cli, 404 without, 405 for other methods', () => {
    expect(reservedAnswer(path, 'GET', { login: false, cli: true })).toBe('local');
    expect(reservedAnswer(path, 'HEAD', { login: false, cli: true })).toBe('local');
    expect(reservedAnswer(path, 'POST', { login: true, cli: true })).toMatchObject({ reply: { code: 'method-not-allowed' } });
    expect(reservedAnswer(path, 'GET', { login: true, cli: false })).toMatchObject({ reply: { code: 'not-found' } });
    expect(reservedAnswer('/.well-known/ztproxy/other', 'GET', { login: true, cli: true })).toBeUndefined();
  });
});
