// Child processes of the bench (upstream, ztproxy, nginx) and the guarantee that none of
// them outlives it: every child is registered here, stopped by its scenario's teardown,
// and — on an error, Ctrl-C or SIGTERM — stopped by the handlers installed below. A
// stray proxy left listening would skew the next run on a 2-core machine.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rmSync } from 'node:fs';

/** How much of a child's stdout/stderr is kept to explain a failed start. */
const TAIL_BYTES = 8 * 1024;

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  #tail = '';
  #exit: number | string | undefined;

  constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.proc = proc;
    // Always drain the pipes: a child blocked on a full stdout stops answering requests.
    const keep = (chunk: Buffer) => {
      this.#tail = (this.#tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.#exit = code ?? signal ?? 'unknown';
        live.delete(this);
        resolve(this.#exit);
      });
      proc.once('error', (err) => {
        this.#tail += `\nspawn error: ${err.message}`;
        this.#exit = 'spawn-error';
        live.delete(this);
        resolve(this.#exit);
      });
    });
  }

  /** The exit code or signal, or undefined while it runs. */
  get exitStatus(): number | string | undefined {
    return this.#exit;
  }

  /** The last few KB the child wrote, for error messages. */
  get output(): string {
    return this.#tail.trim();
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.#exit !== undefined) return;
    this.proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (killed) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }
}

const live = new Set<Child>();

export function spawnChild(name: string, command: string, args: readonly string[], opts: SpawnOptions = {}): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const child = new Child(name, proc);
  live.add(child);
  return child;
}

/** Stop every child still running (in parallel). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

const tempPaths = new Set<string>();

/** Remove this temp directory when the bench exits, however it exits (unless killed). */
export function removeOnExit(path: string): void {
  tempPaths.add(path);
}

let installed = false;

/**
 * Make sure children die with the bench. `exit` handlers must be synchronous, so there
 * the children only get SIGTERM (nginx's master then stops its worker; ztproxy shuts
 * down gracefully); on SIGINT/SIGTERM we wait for them before exiting.
 */
export function installChildCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const child of live) child.proc.kill('SIGTERM');
    for (const path of tempPaths) rmSync(path, { recursive: true, force: true });
  });
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    process.stderr.write(`\nbench: ${signal}, stopping children\n`);
    void stopAllChildren().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
}
