// A host group of more than 16 routes is looked up by prefix (src/pipeline/router.ts
// PrefixIndex) instead of scanned. Differential test: on random route sets — nested
// prefixes, duplicates, the root, case-insensitive routes mixed in — the index picks
// exactly the route the scan picks, for random paths and their folded forms.
import { describe, expect, it } from 'vitest';
import { prefixMatches, Router, type RoutableRoute } from '../../src/pipeline/router.ts';
import { mulberry32 as rng } from '../helpers/random.ts';

interface TestRoute extends RoutableRoute {
  readonly id: number;
}

const SEGMENTS = ['a', 'b', 'api', 'api2', 'v1', 'x', 'admin', 'Admin'];

function randomPath(next: () => number, maxDepth: number): string {
  const depth = Math.floor(next() * (maxDepth + 1));
  let path = '';
  for (let i = 0; i < depth; i++) path += `/${SEGMENTS[Math.floor(next() * SEGMENTS.length)]}`;
  if (next() < 0.2) path += '/';
  return path === '' ? '/' : path;
}

/** The reference: the first route, longest matchPrefix first, then config order. */
function scan(routes: readonly TestRoute[], path: string, folded: string): TestRoute | undefined {
  const sorted = [...routes].sort((a, b) => b.matchPrefix.length - a.matchPrefix.length);
  return sorted.find((r) => prefixMatches(r.matchPrefix, r.caseInsensitive ? folded : path));
}

describe('the prefix index of a large host group chooses what a scan chooses', () => {
  for (let seed = 1; seed <= 40; seed++) {
    it(`random route set #${seed}`, () => {
      const next = rng(seed);
      const count = 17 + Math.floor(next() * 60);
      const routes: TestRoute[] = [];
      for (let id = 0; id < count; id++) {
        let prefix = randomPath(next, 3);
        if (prefix.length > 1 && prefix.endsWith('/')) prefix = prefix.slice(0, -1);
        const caseInsensitive = next() < 0.3;
        routes.push({ id, host: 'app.test', pathPrefix: prefix, caseInsensitive, matchPrefix: caseInsensitive ? prefix.toLowerCase() : prefix });
      }
      const router = new Router(routes);
      const group = router.groupFor('app.test')!;
      for (let i = 0; i < 300; i++) {
        const path = randomPath(next, 5);
        const folded = path.toLowerCase();
        expect(group.match(path, folded)?.id, `${path} (folded ${folded})`).toBe(scan(routes, path, folded)?.id);
      }
    });
  }
});
