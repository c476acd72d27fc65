// Run as its own process (so that its reads race the proxy's closes the way a remote
// client's do): uploads as fast as the connection takes them and stops when the answer
// arrives, the way curl does. Prints one JSON array of outcomes: the status, or the socket
// error when no answer could be read.
//   node test/helpers/upload-client.ts PORT PATH BYTES chunked|length COUNT PARALLEL
import { request } from 'node:https';

const [port, path, bytes, mode, count, parallel] = process.argv.slice(2);
const total = Number(bytes);
const chunk = Buffer.alloc(64 * 1024, 0x61);

function upload(): Promise<string> {
  return new Promise((resolve) => {
    let sent = 0;
    let done = false;
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(port),
        path,
        method: 'POST',
        headers: { host: 'localhost', ...(mode === 'chunked' ? {} : { 'content-length': String(total) }) },
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        done = true;
        resolve(String(res.statusCode));
        res.resume();
        req.destroy();
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!done) resolve(err.code ?? err.message);
      done = true;
    });
    const pump = (): void => {
      while (!done && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!done) req.end();
    };
    pump();
  });
}

const outcomes: string[] = [];
for (let i = 0; i < Number(count); i += Number(parallel)) {
  outcomes.push(...(await Promise.all(Array.from({ length: Math.min(Number(parallel), Number(count) - i) }, upload))));
}
process.stdout.write(JSON.stringify(outcomes));
