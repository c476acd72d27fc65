// Where a program the bench runs is installed: on PATH, else at the path Debian's package
// puts it (sbin is not on every user's PATH).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The executable `name` on PATH, else the first of `fallbacks` that is executable; undefined if none. */
export function findBinary(name: string, ...fallbacks: string[]): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const candidate of [...dirs.map((d) => join(d, name)), ...fallbacks]) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
