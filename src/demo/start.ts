// `npm start`: the demo on a fresh clone with no setup — dev certificates into certs/
// on first run, the development OpenID Provider (when the config's OIDC issuer is on
// loopback, as the demo's is: http://127.0.0.1:9180), the demo upstream on
// 127.0.0.1:9080, a TCP echo service on 127.0.0.1:9007 (the demo's stand-in for SSH or
// a database), the proxy on config/ztproxy.yaml, and the demo users plus ready-made curl
// and `ztproxy connect` lines that show allowed and denied requests.
import { existsSync, readFileSync } from 'node:fs';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { cliClient, DEMO_USERS, startDevOp, type DevOp } from '../devop/index.ts';
import { initDevPki } from '../tls/pki.ts';
import { startProxy, StartError } from '../main.ts';
import { configDir } from '../cli/credentials.ts';
import { connectBlock, curlBlock, DEMO_ECHO_TARGET } from './curls.ts';
import { DEMO_ECHO_PORT, startDemoEcho } from './echo.ts';
import { startDemoUpstream } from './upstream.ts';

/** The dev OP for a config whose OIDC issuer is http://127.0.0.1:<port>, registered for this proxy. */
async function startDemoOp(config: Config): Promise<DevOp | undefined> {
  const oidc = config.identity.oidc;
  if (oidc === undefined) return undefined;
  const issuer = new URL(oidc.issuer);
  if (issuer.protocol !== 'http:' || issuer.hostname !== '127.0.0.1' || issuer.pathname !== '/') return undefined;
  const port = Number(config.listen.address.slice(config.listen.address.lastIndexOf(':') + 1));
  const origins = [`https://localhost:${port}`, `https://127.0.0.1:${port}`];
  // `ztproxy login`'s public client, when the config publishes one for this OP.
  const cli = config.identity.cli !== undefined && (config.identity.cli.issuer ?? oidc.issuer) === oidc.issuer ? config.identity.cli : undefined;
  return startDevOp({
    port: Number(issuer.port),
    ...(cli?.resource === undefined ? {} : { apiResource: cli.resource }),
    loopbackCa: readFileSync(`${CERTS}/ca.crt`, 'utf8'),
    clients: [
      {
        client_id: oidc.clientId,
        ...(oidc.clientSecret === undefined ? { token_endpoint_auth_method: 'none' } : { client_secret: oidc.clientSecret }),
        redirect_uris: origins.map((o) => `${o}/.ztproxy/callback`),
        post_logout_redirect_uris: [...origins.map((o) => `${o}/`), ...(oidc.postLogoutRedirectUri ? [oidc.postLogoutRedirectUri] : [])],
        backchannel_logout_uri: `https://localhost:${port}/.ztproxy/backchannel-logout`,
        backchannel_logout_session_required: true,
      },
      ...(cli === undefined ? [] : [cliClient(cli.clientId)]),
    ],
  });
}

const CERTS = 'certs';
const CONFIG = process.env.ZTPROXY_CONFIG ?? 'config/ztproxy.yaml';

async function main(): Promise<void> {
  if (!existsSync(`${CERTS}/ca.crt`)) {
    const files = await initDevPki(CERTS, {});
    process.stdout.write(`generated development certificates: ${files.join(', ')}\n`);
  } else if (!existsSync(`${CERTS}/dev-issuer.jwks.json`)) {
    process.stderr.write(`${CERTS}/ was made by an older ztproxy (no dev token issuer key): run \`npx ztproxy certs init --force\` and start again\n`);
    process.exit(1);
  }
  const loaded = await loadConfig(CONFIG, process.env);
  if (!loaded.ok) {
    for (const problem of loaded.errors) process.stderr.write(`${problem}\n`);
    process.exit(1);
  }
  const op = await startDemoOp(loaded.config);
  const upstream = await startDemoUpstream(9080);
  const echo = await startDemoEcho(DEMO_ECHO_PORT);
  let proxy;
  try {
    proxy = await startProxy({ configFile: CONFIG, handleSignals: true, processMetrics: true });
  } catch (err) {
    if (err instanceof StartError) {
      for (const problem of err.errors) process.stderr.write(`${problem}\n`);
      process.exit(1);
    }
    throw err;
  }
  const stopDemo = (): void => {
    upstream.close();
    echo.close();
    void op?.close();
  };
  process.once('SIGTERM', stopDemo);
  process.once('SIGINT', stopDemo);
  const port = proxy.addresses.https.port;
  const base = `https://localhost:${port}`;
  const users = op
    ? `
Log in with a browser: open ${base}/ (accept the dev certificate, or trust ${CERTS}/ca.crt)
  development OpenID Provider  ${op.issuer}   (demo users, public passwords — never for production)
${DEMO_USERS.map((u) => `    ${u.username.padEnd(6)} password ${u.password.padEnd(20)} groups ${u.groups.join(', ')}`).join('\n')}
  alice (engineering) reaches the app; bob (sales) is refused (403). Sign out with the
  button on the app's page (or ${base}/.ztproxy/logout).
${loaded.config.identity.cli === undefined ? '' : `
Log in from the terminal (the browser opens at the OP; the token is kept in ${configDir()}, mode 0600):
  npx ztproxy login --via ${base} --ca ${CERTS}/ca.crt
  npx ztproxy logout --via ${base}
`}`
    : '';
  process.stdout.write(`
ztproxy demo is running
  proxy     ${base}   (config: ${CONFIG})
  upstream  http://127.0.0.1:9080 (the demo app; reach it only through the proxy)
  echo      tcp://127.0.0.1:${DEMO_ECHO_PORT} (a TCP echo service, reached with CONNECT ${DEMO_ECHO_TARGET} through the proxy)
  admin     http://127.0.0.1:${proxy.addresses.admin.port}/metrics  /healthz  /readyz
${users}
Try:
${curlBlock(base, CERTS)}
${connectBlock(base, CERTS)}
  # why? ask the policy engine
  npx ztproxy explain -c ${CONFIG} --request '{"host":"localhost","path":"/admin","spiffeId":"spiffe://ztproxy.local/ns/demo/sa/client"}'

Stop with Ctrl-C.
`);
}

void main();
