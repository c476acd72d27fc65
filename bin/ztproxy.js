#!/usr/bin/env node
// The ztproxy command. Node >= 22.18 runs the TypeScript sources directly (type
// stripping), so there is no build step; older Node gets a clear message instead of a
// syntax error.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`ztproxy needs Node.js >= 22.18 (this is ${process.version}); run it through npm scripts or npx, which use the pinned Node 24.\n`);
  process.exit(2);
}
const { run } = await import('../src/cli/main.ts');
const code = await run(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
