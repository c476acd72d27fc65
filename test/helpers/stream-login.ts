// The development OP and a ztproxy in front of a WebSocket upstream, for the tests of
// streams cut by a revocation (test/streams/): route `ws` (`/ws`, WebSocket) and a
// catch-all `app`, both for any signed-in caller, and a re-authorization interval of an
// hour — so within a test only the revocation itself can close a stream. With an
// `apiKey`, `identity.jwt` also trusts that key for the OP's issuer (bearer tokens as a
// CLI's access tokens from the OP would be).
import { AUDIENCE, jwksOf, writeJwksFile, type TempJwksFile, type TestKey } from './jwt.ts';
import { startLoginStack, type LoginStack } from './oidc.ts';
import type { WsUpstream } from './ws-streams.ts';

export interface StreamLoginStack {
  readonly stack: LoginStack;
  readonly close: (this: void) => Promise<void>;
}

export async function startStreamLoginStack(ws: WsUpstream, apiKey?: TestKey): Promise<StreamLoginStack> {
  const jwks: TempJwksFile | undefined = apiKey === undefined ? undefined : await writeJwksFile(jwksOf(apiKey));
  const stack = await startLoginStack({
    ...(jwks === undefined ? {} : { identity: (opIssuer: string) => ({ jwt: [{ issuer: opIssuer, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] }) }),
    routes: [
      { name: 'ws', match: { pathPrefix: '/ws' }, upstream: ws.url, websocket: true, policy: { allow: { authenticated: true } } },
      { name: 'app', policy: { allow: { authenticated: true } } },
    ],
    config: { streams: { reauthorizeInterval: '1h' } },
  });
  return {
    stack,
    close: async () => {
      await stack.close();
      await ws.close();
      await jwks?.cleanup();
    },
  };
}
