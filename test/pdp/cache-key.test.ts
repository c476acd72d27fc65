// The decision-cache key (src/policy/remote-input.ts remoteCacheKey) is built from the
// values the PDP's document is built from, without building the document. Its one
// safety property: two requests whose documents differ never share a key (else one
// user's, device's, path's decision answers another). Tested here against the document
// itself, field by field, with pairs an attacker would pick against a naive
// concatenation, and over every pair of a corpus; and that a new field in the document
// cannot be forgotten by the key (the leaves of the document are listed below: a leaf
// without a row fails).
import { describe, expect, it } from 'vitest';
import type { Device, DevicePosture } from '../../src/basics/device.ts';
import type { Subject } from '../../src/basics/subject.ts';
import type { PolicyInput } from '../../src/policy/index.ts';
import { TemplateMatcher } from '../../src/policy/path-templates.ts';
import { MAX_RAW_KEY_LENGTH, remoteCacheKey, remoteDocument, type RemoteMode, type RemoteRoute } from '../../src/policy/remote-input.ts';

const TEMPLATES = ['/docs/{docId}', '/docs/{docId}/comments/{commentId}'];
const route = (over: Partial<RemoteRoute> = {}, templates: readonly string[] = TEMPLATES): RemoteRoute => ({
  name: 'api',
  templates: new TemplateMatcher(templates, { fallbackId: over.pathPrefix ?? '/' }),
  pathPrefix: '/',
  ...over,
});
const ROUTE = route();

const subject = (over: Partial<Subject> = {}): Subject => ({
  source: 'bearer', issuer: 'https://idp.test', sub: 'alice', email: 'alice@example.test', emailVerified: true, groups: ['eng', 'ops'],
  claims: { sub: 'alice' }, authTime: 1_700_000_000, acr: 'mfa', amr: ['pwd', 'otp'], ...over,
});
const posture = (over: Partial<DevicePosture> = {}): DevicePosture => ({
  managed: true, compliant: true, os: { name: 'macOS', version: '14.2' }, patchAgeDays: 3, diskEncrypted: true, firewall: true, edr: true, screenLock: true, ...over,
});
const device = (over: Partial<Device> = {}, p: Partial<DevicePosture> = {}): Device => ({ issuer: 'mdm.test', id: 'dev-1', issuedAt: 1, expiresAt: 2, posture: posture(p), ...over });
const input = (over: Partial<PolicyInput> = {}): PolicyInput => ({
  method: 'GET', host: 'api.test', path: '/docs/d1/comments/c1', sourceIp: '10.0.0.1', spiffeId: 'spiffe://td.test/ns/a', now: 1, subject: subject(), device: device(), ...over,
});

/** One change of what a request is (its input, or the route that describes it). */
interface Variant {
  readonly input?: Partial<PolicyInput>;
  readonly route?: RemoteRoute;
}
const apply = (v: Variant): [PolicyInput, RemoteRoute] => [input(v.input), v.route ?? ROUTE];

/** For each document leaf: the changes of the request that change it (each must also change the key). */
const SUBJECT_ROWS = {
  id: [{ input: { subject: subject({ sub: 'bob' }) } }],
  issuer: [{ input: { subject: subject({ issuer: 'https://other.test' }) } }],
  groups: [{ input: { subject: subject({ groups: ['eng'] }) } }, { input: { subject: subject({ groups: ['ops', 'eng'] }) } }, { input: { subject: subject({ groups: [] }) } }],
};
const OPA_SUBJECT_ROWS = {
  email: [{ input: { subject: subject({ email: 'bob@example.test' }) } }, { input: { subject: subject({ email: undefined }) } }],
  emailVerified: [{ input: { subject: subject({ emailVerified: false }) } }],
  authTime: [{ input: { subject: subject({ authTime: 1_700_000_001 }) } }, { input: { subject: subject({ authTime: undefined }) } }],
  acr: [{ input: { subject: subject({ acr: 'pwd' }) } }, { input: { subject: subject({ acr: undefined }) } }],
  amr: [{ input: { subject: subject({ amr: ['pwd'] }) } }, { input: { subject: subject({ amr: [] }) } }],
};
const DEVICE_ROWS: Record<string, Variant[]> = {
  'device.id': [{ input: { device: device({ id: 'dev-2' }) } }],
  'device.issuer': [{ input: { device: device({ issuer: 'mdm2.test' }) } }],
  'device.posture.managed': [{ input: { device: device({}, { managed: false }) } }, { input: { device: device({}, { managed: undefined }) } }],
  'device.posture.compliant': [{ input: { device: device({}, { compliant: false }) } }, { input: { device: device({}, { compliant: undefined }) } }],
  'device.posture.os.name': [{ input: { device: device({}, { os: { name: 'Windows', version: '14.2' } }) } }, { input: { device: device({}, { os: { name: undefined, version: '14.2' } }) } }],
  'device.posture.os.version': [{ input: { device: device({}, { os: { name: 'macOS', version: '14.3' } }) } }, { input: { device: device({}, { os: undefined }) } }],
  'device.posture.patchAgeDays': [{ input: { device: device({}, { patchAgeDays: 30 }) } }, { input: { device: device({}, { patchAgeDays: undefined }) } }],
  'device.posture.diskEncrypted': [{ input: { device: device({}, { diskEncrypted: false }) } }, { input: { device: device({}, { diskEncrypted: undefined }) } }],
  'device.posture.firewall': [{ input: { device: device({}, { firewall: false }) } }, { input: { device: device({}, { firewall: undefined }) } }],
  'device.posture.edr': [{ input: { device: device({}, { edr: false }) } }, { input: { device: device({}, { edr: undefined }) } }],
  'device.posture.screenLock': [{ input: { device: device({}, { screenLock: false }) } }, { input: { device: device({}, { screenLock: undefined }) } }],
};
const prefixed = (prefix: string, rows: Record<string, Variant[]>): Record<string, Variant[]> =>
  Object.fromEntries(Object.entries(rows).map(([leaf, variants]) => [`${prefix}${leaf}`, variants]));
const PARAM_ROWS = {
  docId: [{ input: { path: '/docs/d2/comments/c1' } }, { route: route({}, ['/docs/{id}', '/docs/{id}/comments/{commentId}']) }],
  commentId: [{ input: { path: '/docs/d1/comments/c2' } }, { route: route({}, ['/docs/{docId}', '/docs/{docId}/comments/{cid}']) }],
};
const TEMPLATE_ROWS: Variant[] = [{ input: { path: '/docs/d1' } }, { route: route({}, ['/docs/{docId}/comments/{commentId}/']) }, { route: route({ pathPrefix: '/docs' }, []) }];

const ROWS: Record<RemoteMode, { rows: Record<string, Variant[]>; constants: string[] }> = {
  authzen: {
    constants: ['subject.type', 'resource.type', 'resource.properties.schema'],
    rows: {
      ...prefixed('subject.', { id: SUBJECT_ROWS.id }),
      'action.name': [{ input: { method: 'PUT' } }],
      'resource.id': TEMPLATE_ROWS,
      'resource.properties.uri': [{ input: { host: 'other.test' } }, { input: { path: '/docs/d1/comments/c1/' } }],
      'resource.properties.hostname': [{ input: { host: 'other.test' } }, { input: { host: '::1' } }],
      'resource.properties.path': [{ input: { path: '/docs/d1/comments/c1/' } }],
      ...prefixed('resource.properties.params.', PARAM_ROWS),
      'resource.properties.ip': [{ input: { sourceIp: '10.0.0.2' } }],
      'context.issuer': SUBJECT_ROWS.issuer,
      'context.groups': SUBJECT_ROWS.groups,
      'context.spiffeId': [{ input: { spiffeId: 'spiffe://td.test/ns/b' } }, { input: { spiffeId: undefined } }],
      ...prefixed('context.', DEVICE_ROWS),
    },
  },
  opa: {
    constants: [],
    rows: {
      ...prefixed('input.subject.', { ...SUBJECT_ROWS, ...OPA_SUBJECT_ROWS }),
      ...prefixed('input.', DEVICE_ROWS),
      'input.client.spiffeId': [{ input: { spiffeId: 'spiffe://td.test/ns/b' } }, { input: { spiffeId: undefined } }],
      'input.client.ip': [{ input: { sourceIp: '10.0.0.2' } }],
      'input.request.method': [{ input: { method: 'PUT' } }],
      'input.request.host': [{ input: { host: 'other.test' } }],
      'input.request.path': [{ input: { path: '/docs/d1/comments/c1/' } }],
      'input.request.template': TEMPLATE_ROWS,
      ...prefixed('input.request.params.', PARAM_ROWS),
      'input.route': [{ route: route({ name: 'api-2' }) }],
    },
  },
};

/** The document's leaves (an array, as the groups, is one leaf). */
function leaves(value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [path];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, path === '' ? k : `${path}.${k}`));
}

const keyOf = (mode: RemoteMode, v: Variant): string | undefined => remoteCacheKey(mode, ...apply(v));
const docOf = (mode: RemoteMode, v: Variant): string | undefined => remoteDocument(mode, ...apply(v));

describe.each(['authzen', 'opa'] as const)('the %s decision-cache key', (mode) => {
  const { rows, constants } = ROWS[mode];

  it('every leaf of the document has a row below: a field added to the document without one fails here', () => {
    expect(leaves(JSON.parse(docOf(mode, {})!)).sort()).toEqual([...Object.keys(rows), ...constants].sort());
  });

  it.each(Object.entries(rows))('a request that differs in %s is sent another document and gets another key', (_leaf, variants) => {
    for (const v of variants) {
      expect(docOf(mode, v)).not.toBe(docOf(mode, {}));
      expect(keyOf(mode, v)).not.toBe(keyOf(mode, {}));
    }
  });

  it('what the document leaves out is not in the key either: the same question is one entry', () => {
    const same: Variant[] = [
      { input: { now: 999 } },
      { input: { device: device({ issuedAt: 100, expiresAt: 200 }) } },
      { input: { subject: subject({ claims: { sub: 'alice', jti: 'another' }, source: 'session' }) } },
    ];
    if (mode === 'authzen') {
      same.push({ input: { subject: subject({ email: undefined, emailVerified: false, authTime: undefined, acr: undefined, amr: [] }) } }, { route: route({ name: 'api-2' }) });
    }
    for (const v of same) {
      expect(docOf(mode, v)).toBe(docOf(mode, {}));
      expect(keyOf(mode, v)).toBe(keyOf(mode, {}));
    }
  });

  it('undefined exactly when there is no document (AuthZEN cannot ask about an anonymous caller)', () => {
    for (const v of [{}, { input: { subject: undefined } }, { input: { subject: undefined, device: undefined, spiffeId: undefined } }]) {
      expect(keyOf(mode, v) === undefined).toBe(docOf(mode, v) === undefined);
    }
    expect(keyOf(mode, { input: { subject: undefined } }) === undefined).toBe(mode === 'authzen');
  });
});

/**
 * The same fields in the same order, written naively: each value as String(v) (absent:
 * empty), lists flattened, then either concatenated or joined with `|` — the schemes
 * the adversarial pairs below are chosen to break (each pair is checked to collide
 * under its scheme, so it stays adversarial if the fixtures change).
 */
function naiveKey(scheme: 'concat' | 'delimited', mode: RemoteMode, v: Variant): string {
  const [i, r] = apply(v);
  const s = i.subject!;
  const d = i.device;
  const p = d?.posture;
  const resource = r.templates ? r.templates.match(i.path) : { id: r.pathPrefix, params: {} };
  const device = [d?.id, d?.issuer, p?.managed, p?.compliant, p?.os?.name, p?.os?.version, p?.patchAgeDays, p?.diskEncrypted, p?.firewall, p?.edr, p?.screenLock];
  const subject = mode === 'authzen' ? [s.sub, s.issuer, ...s.groups] : [s.sub, s.issuer, s.email, s.emailVerified, ...s.groups, s.authTime, s.acr, ...s.amr];
  const fields = [...subject, i.spiffeId, ...device, mode === 'opa' ? r.name : '', i.sourceIp, i.method, i.host, i.path, resource.id, ...Object.entries(resource.params).flat()];
  return fields.map((f) => (f === undefined ? '' : String(f))).join(scheme === 'concat' ? '' : '|');
}

/** Pairs that collide under a naive key (the scheme named): two documents, which must be two keys. */
const ADVERSARIAL: [string, 'concat' | 'delimited', Variant, Variant][] = [
  ['a delimiter inside the sub', 'delimited', { input: { subject: subject({ sub: 'alice|https://idp.test', issuer: 'x' }) } }, { input: { subject: subject({ sub: 'alice', issuer: 'https://idp.test|x' }) } }],
  ['a delimiter inside a group', 'delimited', { input: { subject: subject({ groups: ['eng|admin'] }) } }, { input: { subject: subject({ groups: ['eng', 'admin'] }) } }],
  ['groups run together', 'concat', { input: { subject: subject({ groups: ['engadmin'] }) } }, { input: { subject: subject({ groups: ['eng', 'admin'] }) } }],
  ['a boundary moved between sub and issuer', 'concat', { input: { subject: subject({ sub: 'alicehttps://idp.test', issuer: '' }) } }, { input: { subject: subject({ sub: 'alice', issuer: 'https://idp.test' }) } }],
  ['a boundary moved between method and host', 'concat', { input: { method: 'GETa', host: 'pi.test' } }, { input: { method: 'GET', host: 'api.test' } }],
  ['a boundary moved between host and path (the same uri, no template)', 'concat', { input: { host: 'api.test/x', path: '/y' } }, { input: { host: 'api.test', path: '/x/y' } }],
  ['a delimiter moved between host and path', 'delimited', { input: { host: 'api.test|/x', path: '/y' } }, { input: { host: 'api.test', path: '/x|/y' } }],
  ['no SPIFFE ID, and an empty one', 'delimited', { input: { spiffeId: '' } }, { input: { spiffeId: undefined } }],
  ['no device, and a device of empty strings and no posture', 'delimited', { input: { device: undefined } }, { input: { device: device({ id: '', issuer: '' }, { managed: undefined, compliant: undefined, os: undefined, patchAgeDays: undefined, diskEncrypted: undefined, firewall: undefined, edr: undefined, screenLock: undefined }) } }],
  ['the OS version\'s digit moved into the patch age', 'concat', { input: { device: device({}, { os: { name: 'macOS', version: '14.2' }, patchAgeDays: undefined }) } }, { input: { device: device({}, { os: { name: 'macOS', version: '14.' }, patchAgeDays: 2 }) } }],
  ['a delimiter moved between the OS name and version', 'delimited', { input: { device: device({}, { os: { name: 'macOS|14', version: undefined } }) } }, { input: { device: device({}, { os: { name: 'macOS', version: '14|' } }) } }],
  ['a posture flag false, and a device id ending in false', 'concat', { input: { device: device({ issuer: 'mdm.testfalse' }, { managed: undefined }) } }, { input: { device: device({ issuer: 'mdm.test' }, { managed: false }) } }],
];

/** Pairs no naive scheme confuses but an encoding could (normalization, a lossy UTF-8 step, an unterminated number). */
const DISTINCT: [string, Variant, Variant][] = [
  ['é composed and decomposed (no Unicode normalization)', { input: { subject: subject({ sub: 'jos\u00e9' }) } }, { input: { subject: subject({ sub: 'jose\u0301' }) } }],
  ['a lone surrogate and U+FFFD (one in UTF-8)', { input: { subject: subject({ sub: '\ud800' }) } }, { input: { subject: subject({ sub: '\ufffd' }) } }],
  ['a percent-encoded slash in a segment, and a slash', { input: { path: '/docs/d1%2Fcomments/c1' } }, { input: { path: '/docs/d1/comments/c1' } }],
  ['a NUL inside the sub', { input: { subject: subject({ sub: 'alice\u0000' }) } }, { input: { subject: subject({ sub: 'alice' }) } }],
  ['patch age 1 and 10', { input: { device: device({}, { patchAgeDays: 1 }) } }, { input: { device: device({}, { patchAgeDays: 10 }) } }],
  ['a negative patch age, and none', { input: { device: device({}, { patchAgeDays: -1 }) } }, { input: { device: device({}, { patchAgeDays: undefined }) } }],
  ['no SPIFFE ID, and one spelled like the key\'s absent marker', { input: { spiffeId: '-' } }, { input: { spiffeId: undefined } }],
  ['the key\'s own length syntax inside a value', { input: { subject: subject({ sub: 'a', issuer: '16:https://idp.test' }) } }, { input: { subject: subject({ sub: 'a16:https://idp.test', issuer: '' }) } }],
];

describe.each(['authzen', 'opa'] as const)('adversarial pairs, %s', (mode) => {
  it.each(ADVERSARIAL)('%s (one naive %s key): two documents, two keys', (_name, scheme, a, b) => {
    expect(naiveKey(scheme, mode, a)).toBe(naiveKey(scheme, mode, b));
    expect(docOf(mode, a)).not.toBe(docOf(mode, b));
    expect(keyOf(mode, a)).not.toBe(keyOf(mode, b));
  });

  it.each(DISTINCT)('%s: two documents, two keys', (_name, a, b) => {
    expect(docOf(mode, a)).not.toBe(docOf(mode, b));
    expect(keyOf(mode, a)).not.toBe(keyOf(mode, b));
  });

  it('over every pair of the corpus (every row, every adversarial value): equal keys exactly when the documents are equal', () => {
    const corpus: Variant[] = [{}, ...Object.values(ROWS[mode].rows).flat(), ...ADVERSARIAL.flatMap(([, , a, b]) => [a, b]), ...DISTINCT.flatMap(([, a, b]) => [a, b])];
    const byKey = new Map<string, string>();
    const byDoc = new Map<string, string>();
    for (const v of corpus) {
      const key = keyOf(mode, v)!;
      const doc = docOf(mode, v)!;
      // Equal keys → equal documents (the safety property), and the converse (no needless misses).
      expect(byKey.get(key) ?? doc).toBe(doc);
      expect(byDoc.get(doc) ?? key).toBe(key);
      byKey.set(key, doc);
      byDoc.set(doc, key);
    }
    expect(byKey.size).toBeGreaterThan(40);
  });
});

describe('the OPA key does not rely on the types', () => {
  it('emailVerified false and absent (the type says boolean; a session decoded without it would not be): two documents, two keys', () => {
    const absent: Variant = { input: { subject: { ...subject(), emailVerified: undefined as unknown as boolean } } };
    const no: Variant = { input: { subject: subject({ emailVerified: false }) } };
    expect(docOf('opa', absent)).not.toBe(docOf('opa', no));
    expect(keyOf('opa', absent)).not.toBe(keyOf('opa', no));
  });
});

describe('long keys', () => {
  const long = (tail: string): Variant => ({ input: { path: `/docs/${'x'.repeat(MAX_RAW_KEY_LENGTH)}${tail}` } });

  it('a key past MAX_RAW_KEY_LENGTH is its SHA-256 (bounded memory per entry); a raw key never looks like one', () => {
    const key = keyOf('authzen', long('a'))!;
    expect(key).toMatch(/^#[A-Za-z0-9_-]{43}$/);
    expect(keyOf('authzen', long('b'))).not.toBe(key);
    expect(keyOf('authzen', long('a'))).toBe(key);
    expect(keyOf('authzen', {})!.length).toBeLessThanOrEqual(MAX_RAW_KEY_LENGTH);
    expect(keyOf('authzen', {})!.startsWith('#')).toBe(false);
    expect(keyOf('opa', {})!.startsWith('#')).toBe(false);
  });

  it('hashed over UTF-16 units: a lone surrogate and U+FFFD (equal in UTF-8) stay two keys', () => {
    const a: Variant = { input: { ...long('').input, subject: subject({ sub: '\ud800' }) } };
    const b: Variant = { input: { ...long('').input, subject: subject({ sub: '\ufffd' }) } };
    expect(docOf('authzen', a)).not.toBe(docOf('authzen', b));
    expect(keyOf('authzen', a)).toMatch(/^#/);
    expect(keyOf('authzen', a)).not.toBe(keyOf('authzen', b));
  });
});
