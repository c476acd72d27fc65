// The one way to load @peculiar/x509 in ztproxy. Import `x509` from here, never from the
// package directly: the library resolves its algorithms through tsyringe, which throws at
// load time unless a Reflect metadata polyfill was evaluated first, and it must be told
// to use Node's WebCrypto. ES modules evaluate their imports in order, so the polyfill
// import below runs before the library's.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto);

export { x509 };
