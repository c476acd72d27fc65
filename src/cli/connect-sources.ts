// Where `ztproxy connect` gets what it presents, each time it opens or renews a tunnel:
// the bearer token (--token-file, re-read every time, or the stored login of
// `ztproxy login`, refreshed by it when it expired) and the device-posture assertion
// (--posture FILE re-read, or --posture-command re-run: an MDM or endpoint agent's CLI
// that prints a fresh assertion). Fresh every time because a long tunnel outlives them
// (issue #6 point 4: the proxy closes a stream whose token or posture expired unless a
// fresh one is presented on it).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { decodeJwt } from 'jose';

export class SourceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SourceError';
  }
}

/** A credential and when it stops counting (ms since the epoch; undefined: not a JWT with `exp`). */
export interface Credential {
  readonly value: string;
  readonly expiresAt: number | undefined;
  readonly issuedAt: number | undefined;
}

export type Source = () => Promise<Credential | undefined>;

/**
 * `exp` and `iat` of a JWT, read without verifying it: the CLI only uses them to know
 * when to fetch a fresh one; the proxy is what verifies. Opaque values: both undefined.
 */
export function credentialOf(value: string): Credential {
  try {
    const { exp, iat } = decodeJwt(value);
    return { value, expiresAt: typeof exp === 'number' ? exp * 1000 : undefined, issuedAt: typeof iat === 'number' ? iat * 1000 : undefined };
  } catch {
    return { value, expiresAt: undefined, issuedAt: undefined };
  }
}

/** A credential is one header value: visible ASCII only (a second line would be a header of its own, RFC 9110 §5.5). */
const HEADER_VALUE = /^[\x21-\x7e]{1,16384}$/;

function checked(value: string, what: string): string {
  const v = value.trim();
  if (v === '') throw new SourceError(`${what} is empty`);
  if (!HEADER_VALUE.test(v)) throw new SourceError(`${what} is not one token (it must be printable ASCII without spaces or line breaks, at most 16 KiB)`);
  return v;
}

/** The file's content, trimmed, read anew at each call. */
export function fileSource(file: string, what: string): Source {
  return async () => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new SourceError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    return credentialOf(checked(text, `${what} ${file}`));
  };
}

/** The most a posture command may print: an assertion is a few KiB. */
const MAX_COMMAND_OUTPUT = 64 * 1024;
export const POSTURE_COMMAND_TIMEOUT_MS = 30_000;

/**
 * Runs `command` with the shell and returns its stdout, trimmed. Its stdin is closed —
 * under ssh our own stdin is the SSH stream, which must not leak into it — and its stderr
 * is ours, so its complaints reach the user; its stdout never reaches ours (only tunnel
 * bytes may).
 */
export function runPostureCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: ['ignore', 'pipe', 'inherit'], timeout: POSTURE_COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL' });
    const chunks: Buffer[] = [];
    let length = 0;
    let tooLong = false;
    child.stdout.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > MAX_COMMAND_OUTPUT) {
        tooLong = true;
        child.kill('SIGKILL');
        return;
      }
      chunks.push(chunk);
    });
    child.once('error', (err) => reject(new SourceError(`the posture command could not run: ${err.message}`, { cause: err })));
    child.once('close', (code, signal) => {
      if (tooLong) reject(new SourceError(`the posture command printed more than ${MAX_COMMAND_OUTPUT / 1024} KiB`));
      else if (signal !== null) reject(new SourceError(`the posture command was killed (${signal}${signal === 'SIGKILL' ? `; it has ${POSTURE_COMMAND_TIMEOUT_MS / 1000} s` : ''})`));
      else if (code !== 0) reject(new SourceError(`the posture command exited with ${code}`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

export function commandSource(command: string): Source {
  return async () => credentialOf(checked(await runPostureCommand(command), 'the posture command\'s output'));
}
