// What `ztproxy login` reads before it logs a person in (issue #6 point 2): the OP's
// issuer, the public CLI client id, the scopes and RFC 8707 resource to ask for, and the
// posture header name. Public by nature (a native app's client id is no secret, RFC 8252
// §8.5); built from `identity.cli` once per snapshot, never from identity.oidc's secret.
import type { Config } from '../../config/schema.ts';
import { cliIssuer } from '../../config/cli.ts';

export const CLI_CONFIGURATION_PATH = '/.well-known/ztproxy/cli-configuration';

/** The metadata document's JSON, or undefined when the config has no `identity.cli`. */
export function cliConfigurationJson(config: Config): string | undefined {
  const cli = config.identity.cli;
  if (cli === undefined) return undefined;
  const issuer = cliIssuer(config.identity);
  // The schema refuses identity.cli without an issuer; a hand-built config must not publish "undefined".
  if (issuer === undefined) throw new Error('identity.cli: no issuer (set identity.cli.issuer or identity.oidc)');
  // Only these keys, listed one by one: nothing of identity.oidc (clientSecret) can slip in.
  return JSON.stringify({
    issuer,
    client_id: cli.clientId,
    scopes: cli.scopes,
    ...(cli.resource === undefined ? {} : { resource: cli.resource }),
    ...(config.device === undefined ? {} : { device_header: config.device.header }),
  });
}
