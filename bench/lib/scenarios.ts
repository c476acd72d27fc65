// The scenarios of `npm run bench`, in the order they run. Adding one is adding an object
// here (and, if it should be compared, a ratio in RATIOS).
import { rm } from 'node:fs/promises';
import type { Child } from './children.ts';
import { findNginx, startNginx } from './nginx.ts';
import type { BenchContext, RatioSpec, Scenario, Target } from './scenario.ts';
import { startZtproxy } from './ztproxy.ts';

/** The upstream itself over plain HTTP: the ceiling every proxy is measured against. */
export function directScenario(): Scenario {
  return {
    name: 'direct',
    description: 'the upstream directly, plain HTTP keep-alive: the ceiling of this machine and load generator',
    async setup(ctx: BenchContext): Promise<Target> {
      return { url: `${ctx.upstream}/`, pid: ctx.upstreamPid };
    },
    async teardown(): Promise<void> {},
  };
}

/** ztproxy with TLS termination, one public route, no authentication: the forwarding cost. */
export function ztproxyForwardScenario(): Scenario {
  let child: Child | undefined;
  return {
    name: 'ztproxy',
    description: 'ztproxy forward-only: TLS termination, request chain, one route with allow {accept: true}, no auth',
    async setup(ctx: BenchContext): Promise<Target> {
      const proxy = await startZtproxy(ctx, { name: 'ztproxy' });
      child = proxy.child;
      return { url: `${proxy.url}/`, pid: proxy.child.proc.pid };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      child = undefined;
    },
  };
}

/** nginx doing the same TLS termination and keep-alive proxying, one worker. */
export function nginxScenario(): Scenario {
  const bin = findNginx();
  let child: Child | undefined;
  let dir: string | undefined;
  return {
    name: 'nginx',
    description: 'nginx, 1 worker: the same TLS termination and keep-alive proxying to the same upstream',
    skipReason: () => (bin ? undefined : 'nginx is not installed (apt-get install nginx-light)'),
    async setup(ctx: BenchContext): Promise<Target> {
      if (!bin) throw new Error('nginx is not installed');
      const nginx = await startNginx(ctx, bin);
      child = nginx.child;
      dir = nginx.dir;
      return { url: `${nginx.url}/`, pid: nginx.child.proc.pid };
    },
    async teardown(): Promise<void> {
      await child?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      child = undefined;
      dir = undefined;
    },
  };
}

export function allScenarios(): Scenario[] {
  return [directScenario(), ztproxyForwardScenario(), nginxScenario()];
}

export const RATIOS: readonly RatioSpec[] = [
  { numerator: 'ztproxy', denominator: 'direct' },
  { numerator: 'nginx', denominator: 'direct' },
  { numerator: 'ztproxy', denominator: 'nginx' },
];
