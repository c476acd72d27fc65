// The import direction of ztproxy (STYLE.md "Import direction"), checked by `npm test`
// (`npm run deps`) so the shape cannot drift back:
//
//   main.ts / cli / demo      composition: wires everything, owns processes and signals
//     assembly                builds a config snapshot from what lies below
//       proxy                 sockets: listener, forwarding, websocket, local replies
//         pipeline            the stages, the runner, the request context
//           pdp               remote policy decision points: HTTP to OPA / AuthZEN, decision cache, breaker
//           policy identity tls     decide and verify; know no sockets
//             config          parse + validate only
//               basics        errors, canonical request form, header tables, durations, IPs
//   telemetry                 logger and metrics: a leaf beside, importing only basics
//   devop                     the development OpenID Provider: stands alone
//
// Each rule below forbids the arrows that would run upward; no-circular catches the rest.
const SOCKET_MODULES = '^(node:)?(net|http|https|http2|tls|dgram|cluster)$';
const DATA_PLANE_PACKAGES = '^(undici|http-proxy-3|ws)($|/)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A circle of imports has no direction: one of its arrows runs upward.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'basics-at-the-bottom',
      severity: 'error',
      comment: 'basics/ is what everything else shares; it imports nothing of ztproxy above it.',
      from: { path: '^src/basics/' },
      to: { path: '^src/', pathNot: '^src/basics/' },
    },
    {
      name: 'config-only-parses-and-validates',
      severity: 'error',
      comment:
        'config/ reads, substitutes and validates; it embeds the schemas of policy and identity, and nothing else of ztproxy (never the data plane).',
      from: { path: '^src/config/' },
      to: {
        path: '^src/',
        pathNot: ['^src/(basics|config)/', '^src/policy/schema\\.ts$', '^src/identity/[^/]+/schema\\.ts$'],
      },
    },
    {
      name: 'config-knows-no-sockets',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { dependencyTypes: ['core', 'npm'], path: [SOCKET_MODULES, DATA_PLANE_PACKAGES] },
    },
    {
      name: 'telemetry-is-a-leaf',
      severity: 'error',
      comment: 'Logger and metrics are used by every layer; they import only basics.',
      from: { path: '^src/telemetry/' },
      to: { path: '^src/', pathNot: '^src/(telemetry|basics)/' },
    },
    {
      name: 'policy-knows-no-sockets',
      severity: 'error',
      comment:
        'The policy engine decides on a described request: no sockets, no HTTP, no pipeline — so it runs the same in the proxy, in `ztproxy explain` and in tests.',
      from: { path: '^src/policy/' },
      to: { path: '^src/', pathNot: '^src/(policy|basics)/' },
    },
    {
      name: 'policy-imports-no-network-modules',
      severity: 'error',
      from: { path: '^src/policy/' },
      to: { dependencyTypes: ['core', 'npm'], path: [SOCKET_MODULES, DATA_PLANE_PACKAGES, '^(pino|prom-client)($|/)'] },
    },
    {
      name: 'pdp-below-the-pipeline',
      comment:
        'pdp/ asks remote PDPs (the only layer under the pipeline with sockets of its own): it builds on policy (the documents it sends), config types and basics; the pipeline calls it, never the reverse.',
      from: { path: '^src/pdp/' },
      to: { path: '^src/', pathNot: ['^src/(pdp|policy|basics|config)/'] },
    },
    {
      name: 'identity-below-the-pipeline',
      severity: 'error',
      comment: 'identity/ verifies tokens and sessions; the pipeline calls it, never the reverse.',
      from: { path: '^src/identity/' },
      to: { path: '^src/(pipeline|proxy|assembly|cli|demo|devop|tls|policy|pdp)/|^src/main\\.ts$' },
    },
    {
      name: 'tls-below-the-pipeline',
      severity: 'error',
      from: { path: '^src/tls/' },
      to: { path: '^src/(pipeline|proxy|assembly|cli|demo|devop|identity|policy|pdp)/|^src/main\\.ts$' },
    },
    {
      name: 'pipeline-knows-no-proxy',
      severity: 'error',
      comment: 'Stages return replies as data; writing them to a socket is the proxy\'s job (injected into the runner).',
      from: { path: '^src/pipeline/' },
      to: { path: '^src/(proxy|assembly|cli|demo|devop)/|^src/main\\.ts$' },
    },
    {
      name: 'proxy-below-the-assembly',
      severity: 'error',
      from: { path: '^src/proxy/' },
      to: { path: '^src/(assembly|cli|demo|devop)/|^src/main\\.ts$' },
    },
    {
      name: 'assembly-below-the-composition-root',
      severity: 'error',
      from: { path: '^src/assembly/' },
      to: { path: '^src/(cli|demo|devop)/|^src/main\\.ts$' },
    },
    {
      name: 'devop-stands-alone',
      severity: 'error',
      comment: 'The development OpenID Provider is a separate program that the demo and tests start.',
      from: { path: '^src/devop/' },
      to: { path: '^src/', pathNot: '^src/(devop|basics)/' },
    },
    {
      name: 'src-never-imports-tests-or-bench',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'not-to-dev-dependencies',
      severity: 'error',
      comment: 'What the proxy runs must come from dependencies, not devDependencies.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
