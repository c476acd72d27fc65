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

describe('StreamRegistry revocations (found by index, never a scan)', () => {
  function ctxWith(fields: Record<string, unknown>): RequestContext {
    return { details: '', ...fields } as unknown as RequestContext;
  }
  const session = (sid: string, iat: number, osid?: string) => ({ sid, iss: 'https://op', sub: 'alice', osid, iat, exp: iat + 3600, c: {}, seen: iat });
  const bearer = (sub: string, claims: Record<string, unknown>) => ({ source: 'bearer', issuer: 'https://op', sub, claims });

  it('a session, a provider session, a user before a time, a lockout ban: exactly the streams riding on it close', async () => {
    const registry = new StreamRegistry();
    const seen = recording(registry);
    const open = (fields: Record<string, unknown>) => {
      const socket = new PassThrough();
      const ctx = ctxWith(fields);
      registry.add('websocket', ctx, socket);
      return { socket, ctx };
    };
    const s1 = open({ session: session('sid-1', 100), subject: { source: 'session', issuer: 'https://op', sub: 'alice' } });
    const s2 = open({ session: session('sid-2', 100, 'op-a'), subject: { source: 'session', issuer: 'https://op', sub: 'alice' } });
    const s3 = open({ session: session('sid-3', 300), subject: { source: 'session', issuer: 'https://op', sub: 'alice' } });
    const b1 = open({ subject: bearer('alice', { iat: 150, sid: 'op-b' }) });
    const b2 = open({ subject: bearer('alice', { iat: 400 }) });
    const bob = open({ subject: bearer('bob', { iat: 100 }) });

    registry.revoked({ kind: 'session', sid: 'sid-1' });
    registry.revoked({ kind: 'provider-session', iss: 'https://op', osid: 'op-b' });
    await new Promise((r) => setImmediate(r));
    expect([s1.ctx.details, b1.ctx.details]).toEqual(['session-revoked', 'session-revoked']);
    expect(registry.size).toBe(4);

    // alice logged out at the OP at 200: her session from 100 and tokens from before go; the session from 300 and the token of 400 stay.
    registry.revoked({ kind: 'subject', iss: 'https://op', sub: 'alice', before: 200 });
    await new Promise((r) => setImmediate(r));
    expect(s2.ctx.details).toBe('session-revoked');
    expect([s3.ctx.details, b2.ctx.details, bob.ctx.details]).toEqual(['', '', '']);

    registry.subjectBanned('https://op', 'bob');
    await new Promise((r) => setImmediate(r));
    expect(bob.ctx.details).toBe('locked-out');
    expect(registry.size).toBe(2);
    expect(seen.closed.map(([, r]) => r).sort()).toEqual(['locked-out', 'session-revoked', 'session-revoked', 'session-revoked']);
    // Streams that closed leave the indexes: the same revocation again touches nothing.
    registry.revoked({ kind: 'session', sid: 'sid-1' });
    expect(registry.size).toBe(2);
    for (const s of [s3, b2]) s.socket.destroy();
  });

  it('find(id): the id given at add, until the stream closes', async () => {
    const registry = new StreamRegistry();
    const socket = new PassThrough();
    const stream = registry.add('tunnel', ctxWith({}), socket, 'AAAAAAAAAAAAAAAAAAAAAA');
    expect(registry.find('AAAAAAAAAAAAAAAAAAAAAA')).toBe(stream);
    const other = registry.add('tunnel', ctxWith({}), new PassThrough());
    expect(other.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    socket.destroy();
    await once(socket, 'close');
    expect(registry.find('AAAAAAAAAAAAAAAAAAAAAA')).toBeUndefined();
  });
});
