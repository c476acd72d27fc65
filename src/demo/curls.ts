// The ready-made curl lines `npm start` prints, as data: each says what it shows and
// the status it gets, so test/cli/demo-curls.test.ts can send exactly these requests to
// a proxy on the demo config and hold the printed answers to the truth.

export interface DemoCurl {
  /** The comment printed above the line. */
  readonly say: string;
  readonly path: string;
  /** The status the request gets. */
  readonly expect: number;
  /** A client certificate from certs/: the demo workload or another one. */
  readonly cert?: 'client' | 'client-other';
  /** `ztproxy token` arguments for an Authorization: Bearer header. */
  readonly token?: readonly string[];
  /** `ztproxy posture` arguments for an X-Device-Posture header. */
  readonly posture?: readonly string[];
  /** Other headers, sent as written. */
  readonly headers?: Readonly<Record<string, string>>;
  /** curl --path-as-is: send the path without resolving dot segments. */
  readonly pathAsIs?: boolean;
}

const ALICE = ['--sub', 'alice', '--groups', 'engineering'] as const;
const LAPTOP = ['--device', 'alice-laptop', '--user', 'alice', '--managed', 'true', '--compliant', 'true', '--os-name', 'macOS', '--os-version', '14.5', '--patch-age-days', '3'] as const;

export const DEMO_CURLS: readonly DemoCurl[] = [
  { say: 'allowed: the public route needs nothing', path: '/public/hello', expect: 200 },
  { say: "refused (401): the app needs the demo workload's client certificate or a login", path: '/', expect: 401 },
  { say: "allowed: with the workload certificate (spiffe://ztproxy.local/ns/demo/sa/client)", path: '/', expect: 200, cert: 'client' },
  { say: "refused (401): another workload's certificate (spiffe://ztproxy.local/ns/demo/sa/other) is not enough", path: '/', expect: 401, cert: 'client-other' },
  { say: 'denied (403): /admin is denied for everyone (deny overrides allow)', path: '/admin', expect: 403, cert: 'client' },
  { say: 'rejected (400): an encoded dot segment trying to climb out', path: '/public/%2e%2e/admin', expect: 400, cert: 'client', pathAsIs: true },
  { say: 'API: 401 without a token, 200 with one for the engineering group, 403 for another group', path: '/api/hello', expect: 401 },
  { say: '', path: '/api/hello', expect: 200, token: ALICE },
  { say: '', path: '/api/hello', expect: 403, token: ['--sub', 'bob', '--groups', 'sales'] },
  {
    say: 'device posture: /secure also needs a managed, disk-encrypted device patched within 30 days, on macOS 14 or later;\n  # allowed (200) with a signed posture assertion from the device agent (the app shows the posture it was told)',
    path: '/secure/hello',
    expect: 200,
    token: ALICE,
    posture: [...LAPTOP, '--disk-encrypted', 'true'],
  },
  { say: 'denied (403): the same device with its disk not encrypted', path: '/secure/hello', expect: 403, token: ALICE, posture: [...LAPTOP, '--disk-encrypted', 'false'] },
  {
    say: 'denied (403): no posture assertion — a plain "X-Device-Compliant: true" counts for nothing',
    path: '/secure/hello',
    expect: 403,
    token: ALICE,
    headers: { 'X-Device-Compliant': 'true' },
  },
];

/** The shell line for one curl, as printed: `base` is the proxy's origin, `certs` the dev PKI directory. */
export function curlLine(c: DemoCurl, base: string, certs: string): string {
  const parts = ['curl', `--cacert ${certs}/ca.crt`];
  if (c.cert !== undefined) parts.push(`--cert ${certs}/${c.cert}.crt --key ${certs}/${c.cert}.key`);
  if (c.token !== undefined) parts.push(`-H "Authorization: Bearer $(npx ztproxy token ${c.token.join(' ')})"`);
  if (c.posture !== undefined) parts.push(`-H "X-Device-Posture: $(npx ztproxy posture ${c.posture.join(' ')})"`);
  for (const [name, value] of Object.entries(c.headers ?? {})) parts.push(`-H "${name}: ${value}"`);
  if (c.pathAsIs) parts.push('--path-as-is');
  parts.push(`${base}${c.path}`);
  return parts.join(' ');
}

/** Every line with its comment, indented for the banner. */
export function curlBlock(base: string, certs: string): string {
  return DEMO_CURLS.map((c) => `${c.say === '' ? '' : `  # ${c.say}\n`}  ${curlLine(c, base, certs)}`).join('\n');
}

/**
 * The `ztproxy connect` lines `npm start` prints: a TCP tunnel to the demo's echo
 * service (route `echo`, `CONNECT echo.ztproxy.local:7`), allowed for the engineering
 * group and refused for another. test/cli/demo-curls.test.ts runs them.
 */
export interface DemoConnect {
  readonly say: string;
  /** `ztproxy token` arguments; the token goes to `tokenFile` first. */
  readonly token: readonly string[];
  readonly tokenFile: string;
  /** What is piped into the tunnel. */
  readonly input: string;
  /** The exit code: 0 the echo came back, 1 refused. */
  readonly expect: 0 | 1;
}

export const DEMO_ECHO_TARGET = 'echo.ztproxy.local:7';

export const DEMO_CONNECTS: readonly DemoConnect[] = [
  {
    say: 'a TCP tunnel (CONNECT, as for SSH or a database): the echo service answers alice (engineering) through ztproxy',
    token: ALICE,
    tokenFile: 'alice.token',
    input: 'hello through the tunnel',
    expect: 0,
  },
  {
    say: 'refused (403, exit 1): bob (sales) gets nothing from it — stderr says why',
    token: ['--sub', 'bob', '--groups', 'sales'],
    tokenFile: 'bob.token',
    input: 'hello',
    expect: 1,
  },
];

/** The shell lines for one connect example: mint the token into its file, then pipe the input through the tunnel. */
export function connectLines(c: DemoConnect, base: string, certs: string): string[] {
  return [
    `npx ztproxy token ${c.token.join(' ')} > ${c.tokenFile}`,
    `echo "${c.input}" | npx ztproxy connect ${DEMO_ECHO_TARGET} --via ${base} --ca ${certs}/ca.crt --token-file ${c.tokenFile}`,
  ];
}

/** The connect examples with their comments, indented for the banner. */
export function connectBlock(base: string, certs: string): string {
  return DEMO_CONNECTS.map((c) => [`  # ${c.say}`, ...connectLines(c, base, certs).map((l) => `  ${l}`)].join('\n')).join('\n');
}
