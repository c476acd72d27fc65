// The floor for a Node TLS server in the handshake benchmark: `https.createServer` with the
// same certificate and key as ztproxy and nginx, TLS 1.3 only, answering `GET /` with 200
// and nothing else (no connection guard, no metrics, no identity) — what Node and its
// OpenSSL cost per handshake, so ztproxy's own share is the difference. Two listeners in
// one process (only one is loaded at a time): server-only, and one requiring a client
// certificate from the CA. Run by bench/lib/handshake-servers.ts as
// `node handshake-node-server.ts CERT KEY CA`; reports its ports over IPC.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLS12_CIPHERS, TLS13_CIPHERSUITES } from '../../src/tls/server-context.ts';

export interface NodeServerReady {
  readonly type: 'ready';
  readonly port: number;
  readonly mtlsPort: number;
}

const [certFile, keyFile, caFile] = process.argv.slice(2);
if (!certFile || !keyFile || !caFile) throw new Error('usage: handshake-node-server.ts CERT KEY CA');
// ztproxy's own choices (src/tls/server-context.ts): the same groups — Node 24's default
// would negotiate X25519MLKEM768, a different and costlier key exchange — and suites.
const tls = {
  cert: readFileSync(certFile),
  key: readFileSync(keyFile),
  minVersion: 'TLSv1.3' as const,
  ciphers: `${TLS13_CIPHERSUITES}:${TLS12_CIPHERS}`,
  honorCipherOrder: true,
  ecdhCurve: 'X25519:P-256:P-384',
};
const answer = (_req: unknown, res: import('node:http').ServerResponse) => res.end('ok\n');
const plain = createServer(tls, answer);
const mtls = createServer({ ...tls, ca: readFileSync(caFile), requestCert: true, rejectUnauthorized: true }, answer);

const listening = (server: typeof plain) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
const ready: NodeServerReady = { type: 'ready', port: await listening(plain), mtlsPort: await listening(mtls) };
if (process.send) process.send(ready);
else process.stdout.write(`${JSON.stringify(ready)}\n`);
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
