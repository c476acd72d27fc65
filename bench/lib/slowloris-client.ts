// Run as its own process by bench/slowloris.ts: holds CONNECTIONS slowloris connections to
// a TLS listener (a request head started and trickled one header byte a second, never
// finished), spread over SOURCES loopback addresses, and reopens each one the proxy cuts.
// Runs for SECONDS, then prints {opened, cut, failed} as JSON.
//   node bench/lib/slowloris-client.ts PORT CONNECTIONS SOURCES SECONDS
import { connect as tcpConnect } from 'node:net';
import { connect } from 'node:tls';

const [port, connections, sources, seconds] = process.argv.slice(2).map(Number) as [number, number, number, number];
const stats = { opened: 0, cut: 0, failed: 0 };
let stopping = false;

function open(slot: number): void {
  if (stopping) return;
  const tcp = tcpConnect({ host: '127.0.0.1', port, localAddress: `127.0.1.${1 + (slot % sources)}` });
  tcp.on('error', () => {});
  const socket = connect({ socket: tcp, servername: 'localhost', rejectUnauthorized: false });
  let established = false;
  let timer: NodeJS.Timeout | undefined;
  socket.once('secureConnect', () => {
    established = true;
    stats.opened++;
    socket.write('GET /loris HTTP/1.1\r\nHost: localhost\r\n');
    timer = setInterval(() => socket.write('X'), 1000);
  });
  socket.on('error', () => {});
  socket.once('close', () => {
    clearInterval(timer);
    if (stopping) return;
    if (established) stats.cut++;
    else stats.failed++;
    // Reopen at once, as an attacker (or a reconnecting client fleet) does.
    setTimeout(open, established ? 0 : 100, slot);
  });
}

for (let i = 0; i < connections; i++) setTimeout(open, Math.floor(i / 50) * 20, i);
setTimeout(() => {
  stopping = true;
  process.stdout.write(JSON.stringify(stats));
  process.exit(0);
}, seconds * 1000);
