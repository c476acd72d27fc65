// The demo's TCP service behind ztproxy: an echo server (RFC 862) on loopback that
// stands in for SSH or a database in `npm start`. It knows nothing of identity; the
// route `echo` in config/ztproxy.yaml lets only the engineering group reach it, with
// `CONNECT echo.ztproxy.local:7` (`npx ztproxy connect echo.ztproxy.local:7 --via …`).
import { createServer, type Server } from 'node:net';

export const DEMO_ECHO_PORT = 9007;

export function startDemoEcho(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    // pipe() ends our side when the client ends its own: what it sent is echoed first.
    socket.pipe(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
