// The `ztproxy` command (SPEC §2). Exit codes: 0 success, 1 invalid config or failed
// check, 2 usage error.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { configJsonSchemaText } from '../config/json-schema.ts';
import { startProxy, StartError } from '../main.ts';
import { runCerts } from './certs.ts';
import { compactHeapOnce, tuneHeapForRelaying } from './heap.ts';
import { runConnect } from './connect.ts';
import { runExplain } from './explain.ts';
import { runPosture } from './posture.ts';
import { loadPolicyTests, printable, runPolicyTests } from './policy-tests.ts';
import { buildSnapshot, SnapshotError } from '../assembly/snapshot.ts';
import { UpstreamRegistry } from '../proxy/upstream.ts';
import { runToken } from './token.ts';
import { runLogin } from './login.ts';

export const USAGE = `usage: ztproxy <command> [options]

commands:
  start -c FILE                      run the proxy
  check -c FILE [--tests DIR]        validate a config (prints each problem, exits 1 if any);
                                     --tests: also run the policy test files (*.yaml) in DIR,
                                     one ok/FAIL line per case, exit 1 on any failure
  explain -c FILE --request JSON     the decision for a described request, with its rule trail
  certs init [--dir certs] [--force] [--key-type ec|rsa]
                                     dev CA, server and client certificates, device-agent key
  certs issue --spiffe-id ID [--ttl 24h] [--dir certs] [--name NAME] [--force]
                                     a short-lived workload certificate from the dev CA
  token --sub SUBJECT [--groups a,b] [--email E] [--ttl 1h] [--bind-cert FILE] ...
                                     a dev bearer token signed with certs/dev-issuer.key
  posture --device ID [--managed true|false] [--compliant true|false] [--os-name N]
          [--os-version V] [--patch-age-days N] [--disk-encrypted ..] [--firewall ..]
          [--edr ..] [--screen-lock ..] [--user SUB] [--bind-cert FILE] [--ttl 5m] [--dir certs]
                                     a dev device-posture assertion signed with certs/device-agent.key
  schema                             print the config JSON Schema (config/schema.json)
  login --via https://PROXY [--ca FILE] [--no-browser] [--timeout 5m]
                                     log in from the terminal (OIDC code flow with PKCE in the
                                     browser); tokens stored in the config dir, mode 0600
  logout [--via https://PROXY] [--ca FILE]
                                     revoke and delete the stored login (all of them without --via)
  connect HOST:PORT --via https://PROXY [--listen 127.0.0.1:PORT] [--ca FILE]
          [--cert FILE --key FILE] [--token-file FILE] [--posture FILE | --posture-command CMD]
                                     a TCP tunnel through the proxy (CONNECT): stdin/stdout (an ssh
                                     ProxyCommand) or a local port; a refusal says why and exits 1
`;

export class UsageError extends Error {}

function configFlag(argv: string[]): string {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, strict: true });
  if (!values.config) throw new UsageError('missing -c FILE');
  return values.config;
}

async function check(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, tests: { type: 'string', short: 't' } }, strict: true });
  if (!values.config) throw new UsageError('missing -c FILE');
  if (values.tests === '') throw new UsageError('--tests needs a directory');
  const file = values.config;
  const result = await loadConfig(file);
  if (!result.ok) {
    for (const problem of result.errors) process.stdout.write(`${problem}\n`);
    return 1;
  }
  process.stdout.write(`${file}: ok (${result.config.routes.length} route${result.config.routes.length === 1 ? '' : 's'})\n`);
  return values.tests === undefined ? 0 : checkPolicyTests(result.config, values.tests);
}

/** Runs the policy test files in `dir` against the config's compiled routes; 0 only if every case passed. */
async function checkPolicyTests(config: Config, dir: string): Promise<number> {
  // Test files are input (a pull request may add one): every line is escaped as printed.
  const write = (line: string): void => void process.stdout.write(`${printable(line)}\n`);
  const { files, errors } = loadPolicyTests(dir);
  const registry = new UpstreamRegistry();
  try {
    // The snapshot the proxy would run: the same compiled policies and router.
    const snapshot = await buildSnapshot(config, 1, registry);
    registry.retain(snapshot.upstreams);
    const { passed, failed } = runPolicyTests(snapshot, files, write);
    for (const problem of errors) write(problem);
    write(`${passed} passed, ${failed} failed${errors.length > 0 ? `, ${errors.length} problem${errors.length === 1 ? '' : 's'} in test files` : ''}`);
    return failed > 0 || errors.length > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof SnapshotError) {
      for (const problem of err.errors) write(problem);
      return 1;
    }
    throw err;
  } finally {
    await registry.destroyAll();
  }
}

async function start(argv: string[]): Promise<number> {
  const configFile = configFlag(argv);
  try {
    tuneHeapForRelaying();
    await startProxy({ configFile, handleSignals: true, processMetrics: true });
    compactHeapOnce();
    return -1; // keep running
  } catch (err) {
    if (err instanceof StartError) {
      for (const problem of err.errors) process.stderr.write(`${problem}\n`);
      return 1;
    }
    throw err;
  }
}

export async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        return await start(rest);
      case 'check':
        return await check(rest);
      case 'explain':
        return await runExplain(rest);
      case 'certs':
        return await runCerts(rest);
      case 'token':
        return await runToken(rest);
      case 'posture':
        return await runPosture(rest);
      case 'login':
      case 'logout':
        return await runLogin(command, rest);
      case 'connect':
        return await runConnect(rest);
      case 'schema':
        process.stdout.write(configJsonSchemaText());
        return 0;
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(command ? `ztproxy: unknown command "${command}"\n${USAGE}` : USAGE);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ztproxy ${command}: ${(err as Error).message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

if (import.meta.main) {
  run(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`ztproxy: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
