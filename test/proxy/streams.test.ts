// The stream registry (src/proxy/streams.ts): open streams are listed until their client
// socket closes; a close through the registry carries its reason to the access log's
// `details` and the telemetry; a stream that ended by itself gets `<kind>-closed`.
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { StreamRegistry, type StreamKind } from '../../src/proxy/streams.ts';
import type { RequestContext } from '../../src/pipeline/context.ts';

function fakeCtx(): RequestContext {
  return { details: '' } as unknown as RequestContext;
}

function recording(registry: StreamRegistry): { opened: StreamKind[]; closed: [StreamKind, string][] } {
  const seen = { opened: [] as StreamKind[], closed: [] as [StreamKind, string][] };
  registry.telemetry = { opened: (k) => seen.opened.push(k), closed: (k, r) => seen.closed.push([k, r]), cut: () => {} };
  return seen;
}

describe('StreamRegistry', () => {
  it('lists a stream until its socket closes; a peer close is <kind>-closed', async () => {
    const registry = new StreamRegistry();
    const seen = recording(registry);
    const socket = new PassThrough();
    const ctx = fakeCtx();
    const stream = registry.add('tunnel', ctx, socket);
    expect(registry.size).toBe(1);
    expect([...registry.streams()]).toEqual([stream]);
    socket.destroy();
    await once(socket, 'close');
    expect(registry.size).toBe(0);
    expect(ctx.details).toBe('tunnel-closed');
    expect(seen).toEqual({ opened: ['tunnel'], closed: [['tunnel', 'tunnel-closed']] });
  });

  it('close(stream, reason) ends it with that reason; a second close changes nothing', async () => {
    const registry = new StreamRegistry();
    const seen = recording(registry);
    const socket = new PassThrough();
    const ctx = fakeCtx();
    const stream = registry.add('websocket', ctx, socket);
    registry.close(stream, 'policy-changed');
    registry.close(stream, 'session-revoked');
    await once(socket, 'close');
    expect(ctx.details).toBe('policy-changed');
    expect(seen.closed).toEqual([['websocket', 'policy-changed']]);
    expect(registry.size).toBe(0);
  });

  it('closeAll ends every stream; a socket already destroyed is never listed', async () => {
    const registry = new StreamRegistry();
    const seen = recording(registry);
    const sockets = [new PassThrough(), new PassThrough(), new PassThrough()];
    for (const s of sockets) registry.add('websocket', fakeCtx(), s);
    const dead = new PassThrough();
    dead.destroy();
    registry.add('tunnel', fakeCtx(), dead);
    expect(registry.size).toBe(3);
    registry.closeAll('shutdown');
    await new Promise((r) => setImmediate(r));
    expect(registry.size).toBe(0);
    expect(seen.closed.map(([, r]) => r)).toEqual(['shutdown', 'shutdown', 'shutdown']);
    expect(seen.opened).toEqual(['websocket', 'websocket', 'websocket']);
  });
});
