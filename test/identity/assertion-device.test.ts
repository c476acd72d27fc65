// The device part of X-ZT-Assertion: only what the verified posture assertion carried,
// and the signer's reuse window never hands one device's assertion to another device or
// to the same device with other posture (the attack-level check is in
// test/attacks/posture.test.ts).
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Device, DevicePosture } from '../../src/basics/device.ts';
import type { Subject } from '../../src/basics/subject.ts';
import { AssertionSigner, deviceClaim, ephemeralAssertionKey } from '../../src/identity/assertion/index.ts';

const NOTHING: DevicePosture = { managed: undefined, compliant: undefined, os: undefined, patchAgeDays: undefined, diskEncrypted: undefined, firewall: undefined, edr: undefined, screenLock: undefined };
const nowS = Math.floor(Date.now() / 1000);
const device = (id: string, posture: Partial<DevicePosture>, expiresAt = nowS + 3600): Device =>
  Object.freeze({ issuer: 'agent.test', id, issuedAt: nowS, expiresAt, posture: { ...NOTHING, ...posture } });
const alice: Subject = { source: 'bearer', issuer: 'https://idp.test', sub: 'alice', email: undefined, emailVerified: false, groups: [], claims: {}, authTime: undefined, acr: undefined, amr: [] };

async function claims(signer: AssertionSigner, d: Device | undefined, subject: Subject | undefined = alice) {
  return decodeJwt(await signer.assertionFor({ route: 'r', subject, spiffeId: undefined, device: d }));
}

describe('the device claim', () => {
  it('carries only the fields reported: unknown stays absent, false stays false', () => {
    expect(deviceClaim(device('d1', { managed: false, os: { name: 'macOS', version: undefined } }))).toEqual({ id: 'd1', iss: 'agent.test', managed: false, os: { name: 'macOS' } });
    expect(deviceClaim(device('d2', {}))).toEqual({ id: 'd2', iss: 'agent.test' });
  });

  it('is absent without a device, present with one, also without a subject', async () => {
    const signer = new AssertionSigner([await ephemeralAssertionKey()], { issuer: 'z', ttlSeconds: 60 });
    expect((await claims(signer, undefined)).device).toBeUndefined();
    expect((await claims(signer, device('d1', { compliant: true }), undefined)).device).toEqual({ id: 'd1', iss: 'agent.test', compliant: true });
  });

  it('is never reused across devices or posture, and reused for the same one', async () => {
    const signer = new AssertionSigner([await ephemeralAssertionKey()], { issuer: 'z', ttlSeconds: 60 });
    const a = await claims(signer, device('d1', { compliant: true }));
    expect(a.device).toMatchObject({ id: 'd1', compliant: true });
    expect((await claims(signer, device('d1', { compliant: true }))).jti).toBe(a.jti);
    const other = await claims(signer, device('d2', { compliant: true }));
    expect(other.device).toMatchObject({ id: 'd2' });
    const changed = await claims(signer, device('d1', { compliant: false }));
    expect(changed.device).toMatchObject({ id: 'd1', compliant: false });
    const none = await claims(signer, undefined);
    expect(none.device).toBeUndefined();
    expect(new Set([a.jti, other.jti, changed.jti, none.jti]).size).toBe(4);
  });
});

describe('the lifetime of an assertion with a device claim', () => {
  it('ends no later than the posture assertion behind it', async () => {
    const signer = new AssertionSigner([await ephemeralAssertionKey()], { issuer: 'z', ttlSeconds: 60 });
    const soon = await claims(signer, device('d1', { managed: true }, nowS + 10));
    expect(soon.exp).toBe(nowS + 10);
    const later = await claims(signer, device('d2', { managed: true }));
    expect(later.exp! - later.iat!).toBe(60);
    const none = await claims(signer, undefined);
    expect(none.exp! - none.iat!).toBe(60);
  });
});
