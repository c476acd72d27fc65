// `ztproxy certs init|issue`: the dev PKI from the command line. Exit codes follow the
// SPEC (§2): 0 success, 1 the operation failed (e.g. a file would be overwritten),
// 2 usage error (unknown flag, missing or malformed value), always with a usage line.
import { parseArgs } from 'node:util';
import { parseDuration } from '../basics/duration.ts';
import { PkiError } from '../tls/pki-error.ts';
import { initDevPki, issueWorkloadCert, type KeyType } from '../tls/pki.ts';

/** Where the command writes; tests pass their own to read what was printed. */
export interface CertsIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const USAGE = `usage: ztproxy certs init [--dir certs] [--force] [--key-type ec|rsa]
       ztproxy certs issue --spiffe-id ID [--ttl 24h] [--dir certs] [--name NAME] [--force]
`;

class UsageError extends Error {}

/** Runs `ztproxy certs ...`; `argv` is what follows `certs`. Resolves to the exit code. */
export async function runCerts(argv: string[], io: CertsIo = process): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'init') return await init(rest, io);
    if (command === 'issue') return await issue(rest, io);
    if (command === '--help' || command === '-h' || command === 'help') {
      io.stdout.write(USAGE);
      return 0;
    }
    throw new UsageError(command === undefined ? 'missing subcommand' : `unknown subcommand "${command}"`);
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err) || (err instanceof PkiError && isUsageCode(err))) {
      io.stderr.write(`ztproxy certs: ${(err as Error).message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof PkiError && err.code === 'pki-file-exists') {
      io.stderr.write(`ztproxy certs: ${err.message} (use --force to replace)\n`);
      return 1;
    }
    io.stderr.write(`ztproxy certs: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

async function init(args: string[], io: CertsIo): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      dir: { type: 'string', default: 'certs' },
      force: { type: 'boolean', default: false },
      'key-type': { type: 'string', default: 'ec' },
    },
  });
  const keyType = values['key-type'];
  if (keyType !== 'ec' && keyType !== 'rsa') throw new UsageError(`--key-type must be "ec" or "rsa", not "${keyType}"`);
  const written = await initDevPki(values.dir, { force: values.force, keyType: keyType satisfies KeyType });
  io.stdout.write(written.map((file) => `${file}\n`).join(''));
  return 0;
}

async function issue(args: string[], io: CertsIo): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      'spiffe-id': { type: 'string' },
      ttl: { type: 'string', default: '24h' },
      dir: { type: 'string', default: 'certs' },
      name: { type: 'string' },
      force: { type: 'boolean', default: false },
    },
  });
  const spiffeId = values['spiffe-id'];
  if (spiffeId === undefined) throw new UsageError('--spiffe-id is required');
  let ttlMs: number;
  try {
    ttlMs = parseDuration(values.ttl);
  } catch (err) {
    throw new UsageError(`--ttl: ${(err as Error).message}`);
  }
  if (ttlMs <= 0) throw new UsageError('--ttl must be longer than zero');
  const { certPath, keyPath } = await issueWorkloadCert(values.dir, { spiffeId, ttlMs, name: values.name, force: values.force });
  io.stdout.write(`${certPath}\n${keyPath}\n`);
  return 0;
}

// Values the operator typed that the PKI rejected are usage errors, not failures.
function isUsageCode(err: PkiError): boolean {
  return err.code === 'pki-invalid-spiffe-id' || err.code === 'pki-invalid-option';
}

// node:util parseArgs reports unknown flags and missing values with these codes.
function isParseArgsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
