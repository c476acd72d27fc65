// `npm start`: the demo on a fresh clone with no setup — dev certificates into certs/
// on first run, the demo upstream on 127.0.0.1:9080, the proxy on config/ztproxy.yaml,
// and ready-made curl lines that show allowed and denied requests.
import { existsSync } from 'node:fs';
import { initDevPki } from '../tls/pki.ts';
import { startProxy, StartError } from '../main.ts';
import { startDemoUpstream } from './upstream.ts';

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
  const upstream = await startDemoUpstream(9080);
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
  process.once('SIGTERM', () => upstream.close());
  process.once('SIGINT', () => upstream.close());
  const port = proxy.addresses.https.port;
  const base = `https://localhost:${port}`;
  const ca = `--cacert ${CERTS}/ca.crt`;
  const cert = `--cert ${CERTS}/client.crt --key ${CERTS}/client.key`;
  const other = `--cert ${CERTS}/client-other.crt --key ${CERTS}/client-other.key`;
  process.stdout.write(`
ztproxy demo is running
  proxy     ${base}   (config: ${CONFIG})
  upstream  http://127.0.0.1:9080 (the demo app; reach it only through the proxy)
  admin     http://127.0.0.1:${proxy.addresses.admin.port}/metrics  /healthz  /readyz

Try:
  # allowed: the public route needs nothing
  curl ${ca} ${base}/public/hello
  # denied (403): the app needs the demo workload's client certificate
  curl ${ca} ${base}/
  # allowed: with the workload certificate (spiffe://ztproxy.local/ns/demo/sa/client)
  curl ${ca} ${cert} ${base}/
  # denied (403): another workload's certificate (spiffe://ztproxy.local/ns/demo/sa/other)
  curl ${ca} ${other} ${base}/
  # denied (403): /admin is denied for everyone (deny overrides allow)
  curl ${ca} ${cert} ${base}/admin
  # rejected (400): an encoded dot segment trying to climb out
  curl ${ca} ${cert} --path-as-is ${base}/public/%2e%2e/admin
  # API: 401 without a token, 200 with one for the eng group, 403 for another group
  curl ${ca} ${base}/api/hello
  curl ${ca} -H "Authorization: Bearer $(npx ztproxy token --sub alice --groups eng)" ${base}/api/hello
  curl ${ca} -H "Authorization: Bearer $(npx ztproxy token --sub bob --groups sales)" ${base}/api/hello
  # why? ask the policy engine
  npx ztproxy explain -c ${CONFIG} --request '{"host":"localhost","path":"/admin","spiffeId":"spiffe://ztproxy.local/ns/demo/sa/client"}'

Stop with Ctrl-C.
`);
}

void main();
