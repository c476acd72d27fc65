// The listener's TLS settings, and their reload when a certificate, key, CA or CRL file
// changes. A reload builds a new SecureContext and hands it to the server
// (`setSecureContext`): new handshakes use it, open connections keep theirs, nothing is
// dropped. A half-written or mismatched file fails to build and the old context stays.
import { readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Config } from '../config/schema.ts';

/**
 * TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only (no CBC, no RSA key
 * transport, no SHA-1), ECDSA first. TLS 1.3 suites are all AEAD; Node's default set is
 * kept.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES256-GCM-SHA384',
].join(':');

export const TLS13_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384';

type Listen = Config['listen'];

/** Context options read from the files the config names. Throws on an unreadable file. */
export function readSecureContextOptions(listen: Listen): SecureContextOptions {
  const opts: SecureContextOptions = {
    cert: readFileSync(listen.tls.cert),
    key: readFileSync(listen.tls.key),
    minVersion: listen.tls.minVersion,
    ciphers: `${TLS13_CIPHERSUITES}:${TLS12_CIPHERS}`,
    honorCipherOrder: true,
    ecdhCurve: 'X25519:P-256:P-384',
  };
  if (listen.clientAuth.mode !== 'off' && listen.clientAuth.ca) {
    opts.ca = readFileSync(listen.clientAuth.ca);
    if (listen.clientAuth.crl) opts.crl = readFileSync(listen.clientAuth.crl);
  }
  return opts;
}

/**
 * Every certificate in a CA bundle, parsed. OpenSSL silently skips what it cannot parse
 * in a `ca` bundle, so a half-written or garbage CA file would otherwise be accepted and
 * leave the listener trusting nothing (every mTLS client locked out) or, worse, a
 * partial bundle.
 */
export function parseCaBundle(pem: Buffer | string): X509Certificate[] {
  const text = pem.toString();
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const stray = text.replace(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g, '').trim();
  if (blocks.length === 0) throw new Error('the CA bundle contains no PEM certificate');
  // Comments between blocks are common in bundles; a PEM header without its end is a
  // truncated (half-written) file.
  if (stray.includes('-----BEGIN')) throw new Error('the CA bundle has a truncated PEM block');
  return blocks.map((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      throw new Error(`CA bundle certificate #${i + 1} does not parse (${(err as Error).message})`);
    }
    if (!cert.ca) throw new Error(`CA bundle certificate #${i + 1} (${cert.subject.replaceAll('\n', ', ')}) is not a CA certificate`);
    return cert;
  });
}

/** Builds the context once to prove the files are usable (key matches cert, PEM parses). */
export function validatedSecureContextOptions(listen: Listen): SecureContextOptions {
  const opts = readSecureContextOptions(listen);
  if (opts.ca !== undefined) parseCaBundle(opts.ca as Buffer);
  createSecureContext(opts);
  return opts;
}

export function tlsFiles(listen: Listen): string[] {
  const files = [listen.tls.cert, listen.tls.key];
  if (listen.clientAuth.mode !== 'off') {
    if (listen.clientAuth.ca) files.push(listen.clientAuth.ca);
    if (listen.clientAuth.crl) files.push(listen.clientAuth.crl);
  }
  return files;
}

/**
 * Polls files (robust to the atomic rename and symlink swaps that Kubernetes secret
 * volumes and cert-manager use, where fs.watch loses track) and calls `onChange` once per
 * burst of changes. Each poll stats every file and compares it with what it looked like
 * when watching began or last changed, recorded by us. fs.watchFile only reported a
 * difference between two of its own samples, and its first sample is taken on the libuv
 * threadpool some time after watch(): a change made before that sample (a busy
 * threadpool — TLS, key files, DNS — delays it) became its baseline and was never
 * reported, so a certificate renamed in right after start was never served.
 */
export class FileWatcher {
  #files: string[] = [];
  readonly #seen = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #polling = false;
  readonly #onChange: () => void;
  readonly #intervalMs: number;

  constructor(onChange: () => void, intervalMs = 500) {
    this.#onChange = onChange;
    this.#intervalMs = intervalMs;
  }

  static #signature(s: { mtimeMs: number; ctimeMs: number; size: number; ino: number }): string {
    return `${s.mtimeMs}:${s.ctimeMs}:${s.size}:${s.ino}`;
  }

  watch(files: readonly string[]): void {
    const next = [...new Set(files)];
    for (const f of this.#files) if (!next.includes(f)) this.#seen.delete(f);
    for (const f of next) {
      if (this.#seen.has(f)) continue;
      try {
        this.#seen.set(f, FileWatcher.#signature(statSync(f)));
      } catch {
        this.#seen.set(f, 'missing');
      }
    }
    this.#files = next;
    this.#poll ??= setInterval(() => void this.#check(), this.#intervalMs).unref();
  }

  async #check(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const files = this.#files;
      const now = await Promise.all(files.map((f) => stat(f).then((s) => FileWatcher.#signature(s), () => 'missing')));
      let changed = false;
      files.forEach((f, i) => {
        // A file no longer watched (a reload changed the list while this poll ran) is not news.
        if (!this.#seen.has(f) || this.#seen.get(f) === now[i]) return;
        this.#seen.set(f, now[i]!);
        changed = true;
      });
      if (changed && this.#poll !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(this.#onChange, Math.min(this.#intervalMs, 250));
      }
    } finally {
      this.#polling = false;
    }
  }

  close(): void {
    clearInterval(this.#poll);
    this.#poll = undefined;
    clearTimeout(this.#timer);
    this.#seen.clear();
    this.#files = [];
  }
}
