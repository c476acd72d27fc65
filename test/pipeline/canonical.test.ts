// The canonical request (src/pipeline/canonical.ts) is what route selection, policy and
// the upstream all see; a gap between what it accepts and what an upstream decodes is a
// policy bypass (CVE-2021-29492 escaped slashes, Tomcat `;` parameters, `%2e%2e`
// traversal). One row per rule and per branch; the same inputs go over the wire in
// test/proxy/sanitation.test.ts.
import { describe, expect, it } from 'vitest';
import { canonicalizeHost, canonicalizeHostCached, canonicalizePath, isValidQuery } from '../../src/basics/canonical.ts';
import { normalizePrefix, prefixMatches } from '../../src/pipeline/router.ts';

describe('canonicalizePath: accepted, with the canonical form', () => {
  const cases: [string, string, string, boolean][] = [
    // [why, raw, canonical, encodedSlash]
    ['root', '/', '/', false],
    ['plain path', '/a/b', '/a/b', false],
    ['unreserved escape decoded', '/%41', '/A', false],
    ['all unreserved kinds decoded', '/%61%7A%30%39%2D%5F%7E', '/az09-_~', false],
    ['lower-case hex of an unreserved byte decoded', '/%7e', '/~', false],
    ['decoded exactly once: %25 stays, the 41 after it is text', '/%2541', '/%2541', false],
    ['reserved escape kept with upper-case hex', '/a%3ab', '/a%3Ab', false],
    ['non-ASCII byte escape kept, hex upper-cased', '/caf%c3%a9', '/caf%C3%A9', false],
    ['escaped space kept', '/a%20b', '/a%20b', false],
    ['escaped ? and # kept (they are data, not delimiters)', '/a%3fb%23c', '/a%3Fb%23c', false],
    ['encoded slash flagged, kept encoded, upper-cased', '/a%2fb', '/a%2Fb', true],
    ['encoded slash upper-case', '/a%2Fb', '/a%2Fb', true],
    ['encoded backslash flagged', '/a%5cb', '/a%5Cb', true],
    ['encoded slash is no separator for dot segments', '/a/..%2fb', '/a/..%2Fb', true],
    ['sub-delims and : @ allowed raw', "/a!$&'()*+,=:@b", "/a!$&'()*+,=:@b", false],
    ['single dot segment removed', '/a/./b', '/a/b', false],
    ['leading dot segment removed', '/./a', '/a', false],
    ['double dot resolves one level', '/a/b/../c', '/a/c', false],
    ['public/../admin resolves to /admin', '/public/../admin', '/admin', false],
    ['double dot back to the root', '/a/..', '/', false],
    ['trailing double dot keeps a directory slash', '/a/b/..', '/a/', false],
    ['trailing single dot keeps a directory slash', '/a/.', '/a/', false],
    ['repeated slashes merged', '/a//b', '/a/b', false],
    ['leading repeated slashes merged (no network-path reference)', '//admin', '/admin', false],
    ['many slashes merged', '/a///b////c', '/a/b/c', false],
    ['only slashes', '///', '/', false],
    ['trailing slash kept', '/a/b/', '/a/b/', false],
    ['trailing repeated slashes become one', '/a//', '/a/', false],
    ['dots inside a name are not segments', '/a/..b/.c/d..', '/a/..b/.c/d..', false],
    ['three dots is a name', '/a/.../b', '/a/.../b', false],
    ['encoded dot inside a name is decoded (not a dot segment)', '/a/%2ebar', '/a/.bar', false],
    ['encoded dot after a letter', '/a/b%2e', '/a/b.', false],
  ];
  it.each(cases)('%s: %s → %s', (_why, raw, path, encodedSlash) => {
    expect(canonicalizePath(raw)).toEqual({ ok: true, path, encodedSlash });
  });
});

describe('canonicalizePath: rejected, with the reason', () => {
  const cases: [string, string, string][] = [
    // [why, raw, reason]
    ['empty target', '', 'target-not-origin-form'],
    ['relative target', 'a/b', 'target-not-origin-form'],
    ['absolute URL is not origin-form', 'http://evil/', 'target-not-origin-form'],
    ['asterisk-form', '*', 'target-not-origin-form'],
    ['escaped NUL', '/a%00b', 'nul-byte'],
    ['bad escape %zz', '/a%zzb', 'invalid-percent-encoding'],
    ['bad escape, second digit not hex', '/a%4g', 'invalid-percent-encoding'],
    ['truncated escape %4 at the end', '/a%4', 'invalid-percent-encoding'],
    ['truncated escape % at the end', '/a%', 'invalid-percent-encoding'],
    ['truncated escape before a slash', '/a%4/b', 'invalid-percent-encoding'],
    ['raw backslash (a separator on Windows/IIS)', '/a\\b', 'backslash'],
    ['raw backslash traversal', '/public\\..\\admin', 'backslash'],
    ['; path parameter (Tomcat ..;/)', '/a;jsessionid=1', 'path-parameter'],
    ['..;/ traversal', '/public/..;/admin', 'path-parameter'],
    ['# fragment in a request target', '/a#b', 'fragment'],
    ['raw space', '/a b', 'invalid-path-character'],
    ['tab', '/a\tb', 'invalid-path-character'],
    ['CR', '/a\rb', 'invalid-path-character'],
    ['raw NUL', '/a\u0000b', 'invalid-path-character'],
    ['DEL', '/a\u007fb', 'invalid-path-character'],
    ['non-ASCII (latin1)', '/caf\u00e9', 'invalid-path-character'],
    ['non-ASCII (fullwidth solidus)', '/a\uff0fb', 'invalid-path-character'],
    ['a raw ? (the caller splits the query off first)', '/a?b', 'invalid-path-character'],
    ['raw " < > [ ] { } | ^ `', '/a"b', 'invalid-path-character'],
    ['raw <', '/a<b', 'invalid-path-character'],
    ['raw [', '/a[b', 'invalid-path-character'],
    ['raw |', '/a|b', 'invalid-path-character'],
    ['.. above the root', '/..', 'path-traversal'],
    ['.. above the root, then a name', '/../admin', 'path-traversal'],
    ['.. after climbing back to the root', '/a/../../admin', 'path-traversal'],
    ['.. above the root after merged slashes', '//../admin', 'path-traversal'],
    ['encoded dot-dot, lower case', '/public/%2e%2e/admin', 'encoded-dot-segment'],
    ['encoded dot-dot, upper case', '/public/%2E%2E/admin', 'encoded-dot-segment'],
    ['half-encoded dot-dot .%2E', '/public/.%2E/admin', 'encoded-dot-segment'],
    ['half-encoded dot-dot %2e.', '/public/%2e./admin', 'encoded-dot-segment'],
    ['encoded single dot', '/a/%2e/b', 'encoded-dot-segment'],
    ['encoded dot-dot at the end', '/a/%2e%2e', 'encoded-dot-segment'],
    ['encoded dot-dot at the root', '/%2e%2e/admin', 'encoded-dot-segment'],
  ];
  it.each(cases)('%s: %j → %s', (_why, raw, reason) => {
    expect(canonicalizePath(raw)).toEqual({ ok: false, reason });
  });
});

describe('isValidQuery', () => {
  const cases: [string, string, boolean][] = [
    ['empty', '', true],
    ['pairs', 'a=1&b=2', true],
    ['a path-looking query', '/admin', true],
    ['escapes are not checked (forwarded byte for byte)', 'a=%zz&b=%2F', true],
    ['? / : @ ; and sub-delims', "a=?/:@;!$'()*+,", true],
    ['characters browsers send raw: [ ] { } | ^ ` " < > \\', 'a=[]{}|^`"<>\\', true],
    ['# fragment', 'a=1#frag', false],
    ['space', 'a=1 2', false],
    ['tab', 'a=\t', false],
    ['CR LF (header injection)', 'a=\r\nX-Zt-User: x', false],
    ['NUL', 'a=\u0000', false],
    ['DEL', 'a=\u007f', false],
    ['non-ASCII', 'q=caf\u00e9', false],
  ];
  it.each(cases)('%s: %j → %s', (_why, query, valid) => {
    expect(isValidQuery(query)).toBe(valid);
  });
});

describe('canonicalizeHost: accepted', () => {
  const cases: [string, string, { name: string; authority: string; port: number | undefined }][] = [
    ['plain name', 'app.example.com', { name: 'app.example.com', authority: 'app.example.com', port: undefined }],
    ['upper and mixed case lowered', 'App.EXAMPLE.Com', { name: 'app.example.com', authority: 'app.example.com', port: undefined }],
    ['trailing dot removed', 'app.example.com.', { name: 'app.example.com', authority: 'app.example.com', port: undefined }],
    ['port kept in the authority only', 'app.example.com:8443', { name: 'app.example.com', authority: 'app.example.com:8443', port: 8443 }],
    ['trailing dot and port', 'APP.example.com.:443', { name: 'app.example.com', authority: 'app.example.com:443', port: 443 }],
    ['leading zeros in the port normalised', 'a.test:0080', { name: 'a.test', authority: 'a.test:80', port: 80 }],
    ['highest port', 'a.test:65535', { name: 'a.test', authority: 'a.test:65535', port: 65535 }],
    ['single label', 'localhost', { name: 'localhost', authority: 'localhost', port: undefined }],
    ['underscore in a label', 'my_svc.internal', { name: 'my_svc.internal', authority: 'my_svc.internal', port: undefined }],
    ['leading underscore (SRV-style label)', '_svc.example.com', { name: '_svc.example.com', authority: '_svc.example.com', port: undefined }],
    ['hyphen inside a label', 'a-b.test', { name: 'a-b.test', authority: 'a-b.test', port: undefined }],
    ['63-character label', `${'a'.repeat(63)}.test`, { name: `${'a'.repeat(63)}.test`, authority: `${'a'.repeat(63)}.test`, port: undefined }],
    ['IPv4', '127.0.0.1:8443', { name: '127.0.0.1', authority: '127.0.0.1:8443', port: 8443 }],
    ['IPv6 loopback', '[::1]', { name: '::1', authority: '[::1]', port: undefined }],
    ['IPv6 with port', '[::1]:8443', { name: '::1', authority: '[::1]:8443', port: 8443 }],
    ['IPv6 upper case lowered', '[2001:DB8::A]:443', { name: '2001:db8::a', authority: '[2001:db8::a]:443', port: 443 }],
  ];
  it.each(cases)('%s: %j', (_why, raw, expected) => {
    expect(canonicalizeHost(raw)).toEqual(expected);
  });
});

describe('canonicalizeHost: rejected (the caller answers 400)', () => {
  const cases: [string, string][] = [
    ['empty', ''],
    ['only a dot', '.'],
    ['only a port', ':443'],
    ['userinfo', 'a@b'],
    ['userinfo with a port', 'user:pass@app.example.com:443'],
    ['a list', 'a,b'],
    ['a list with a space', 'a.test, b.test'],
    ['a space inside', 'a b'],
    ['a leading space', ' a.test'],
    ['a trailing space', 'a.test '],
    ['a tab', 'a\tb'],
    ['port 0', 'a.test:0'],
    ['port 99999', 'a.test:99999'],
    ['port 65536', 'a.test:65536'],
    ['six-digit port', 'a.test:000080'],
    ['empty port', 'a.test:'],
    ['non-numeric port', 'a.test:https'],
    ['signed port', 'a.test:+80'],
    ['two ports', 'a.test:80:81'],
    ['empty label', 'a..test'],
    ['two trailing dots', 'a.test..'],
    ['leading dot', '.a.test'],
    ['label starting with a hyphen', '-a.test'],
    ['label ending with a hyphen', 'a-.test'],
    ['64-character label', `${'a'.repeat(64)}.test`],
    ['longer than 300 characters', `${'a.'.repeat(150)}a`],
    ['slash (a path smuggled into Host)', 'a.test/admin'],
    ['backslash', 'a.test\\b'],
    ['percent-encoded', 'a%2etest'],
    ['NUL', 'a.test\u0000'],
    ['non-ASCII (IDN not in punycode)', 'bücher.example'],
    // One address, one spelling: numeric forms a URL parser reads as 127.0.0.1 / ::1.
    ['IPv4 short form', '127.1'],
    ['IPv4 as one number', '2130706433'],
    ['IPv4 with a hex part', '0x7f.0.0.1'],
    ['IPv4 with zero padding', '127.000.000.001'],
    ['IPv6 not in RFC 5952 form', '[0:0::1]'],
    ['IPv6 with leading zeros', '[0000:0000:0000:0000:0000:0000:0000:0001]'],
    ['IPv4-mapped IPv6', '[::ffff:127.0.0.1]'],
    ['IPv4-mapped IPv6, hex form', '[::ffff:7f00:1]'],
    ['bracketed IPv6 without the closing bracket', '[::1'],
    ['bracketed IPv6 with junk after it', '[::1]x'],
    ['bracketed IPv6 with an empty port', '[::1]:'],
    ['bracketed IPv6 with port 0', '[::1]:0'],
    ['bracketed IPv4', '[127.0.0.1]'],
    ['bracketed name', '[localhost]'],
    ['IPvFuture', '[v1.fe]'],
    ['IPv6 zone id', '[fe80::1%25eth0]'],
    ['not an IPv6 address', '[1:2:3:4:5:6:7:8:9]'],
    ['unbracketed IPv6 (the first colon is read as the port)', '::1'],
  ];
  it.each(cases)('%s: %j', (_why, raw) => {
    expect(canonicalizeHost(raw)).toBeUndefined();
  });
});

describe('route prefixes match whole segments', () => {
  const cases: [string, string, boolean][] = [
    ['/', '/', true],
    ['/', '/anything', true],
    ['/api', '/api', true],
    ['/api', '/api/', true],
    ['/api', '/api/x', true],
    ['/api', '/apix', false],
    ['/api', '/ap', false],
    ['/api', '/', false],
    ['/api', '/API', false],
    ['/api/v1', '/api/v1/x', true],
    ['/api/v1', '/api/v10', false],
  ];
  it.each(cases)('prefix %s on %s → %s', (prefix, path, matches) => {
    expect(prefixMatches(prefix, path)).toBe(matches);
  });

  it.each([
    ['/', '/'],
    ['/api/', '/api'],
    ['/api', '/api'],
  ])('normalizePrefix(%s) → %s', (prefix, normalized) => {
    expect(normalizePrefix(prefix)).toBe(normalized);
  });
});

describe('canonicalizeHostCached answers exactly as canonicalizeHost, remembered or not', () => {
  const hosts = ['app.example.com', 'App.EXAMPLE.Com', '127.0.0.1:8443', '[::1]:8443', '127.1', 'a@b', '', 'a.test:0', '[::ffff:127.0.0.1]', 'bücher.example', '0x7f.0.0.1'];
  it('first sight, a cache hit, and after the cache was emptied by a flood of made-up hosts', () => {
    for (const raw of hosts) expect(canonicalizeHostCached(raw)).toEqual(canonicalizeHost(raw));
    for (const raw of hosts) expect(canonicalizeHostCached(raw)).toEqual(canonicalizeHost(raw));
    for (let i = 0; i < 2000; i++) canonicalizeHostCached(`h${i}.flood.test`);
    for (const raw of hosts) expect(canonicalizeHostCached(raw)).toEqual(canonicalizeHost(raw));
  });
  it('a remembered answer cannot be changed by its caller', () => {
    const first = canonicalizeHostCached('frozen.example.com:443')!;
    expect(() => ((first as { name: string }).name = 'evil.test')).toThrow(TypeError);
    expect(canonicalizeHostCached('frozen.example.com:443')?.name).toBe('frozen.example.com');
  });
});
