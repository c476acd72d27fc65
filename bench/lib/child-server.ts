// The child-process side of a bench server (upstream-server.ts, pdp-server.ts): listen on a
// free loopback port, tell the parent which (IPC message, or a JSON line on stdout when
// run by hand), and exit with the parent.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamReady {
  readonly type: 'ready';
  readonly port: number;
}

export function listenAsChild(server: Server): void {
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    const ready: UpstreamReady = { type: 'ready', port };
    if (process.send) process.send(ready);
    else process.stdout.write(`${JSON.stringify(ready)}\n`);
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}
