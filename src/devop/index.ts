// The development OpenID Provider: a real, certified OP (`oidc-provider`) run on
// loopback by `npm start` and by the tests, so login, refresh, PKCE, RFC 9207 `iss`
// and both logout flavours are exercised against the real protocol rather than a
// mock. Plain HTTP and public demo passwords: never for production.

export { cliClient, startDevOp } from './dev-op.ts';
export type { DevOp, DevOpOptions } from './dev-op.ts';
export { DEMO_USERS } from './users.ts';
export type { DemoUser } from './users.ts';
