// The file watcher behind config and certificate reloads (src/tls/server-context.ts). A
// change made right after watching began — before any poll — must be reported: fs.watchFile
// took its baseline on the threadpool some time after watch(), so a file renamed in before
// that sample was never reported (test/tls/reload.test.ts "atomic rename" failed that way on
// a busy CI machine). Here the rename happens in the same tick as watch().
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileWatcher } from '../../src/tls/server-context.ts';

const dirs: string[] = [];
const watchers: FileWatcher[] = [];
afterEach(() => {
  for (const w of watchers.splice(0)) w.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(): { file: string; changes: () => number; watcher: FileWatcher } {
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-watch-'));
  dirs.push(dir);
  const file = join(dir, 'server.crt');
  writeFileSync(file, 'one\n');
  let n = 0;
  const watcher = new FileWatcher(() => n++, 50);
  watchers.push(watcher);
  return { file, changes: () => n, watcher };
}

async function eventually(probe: () => boolean, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('FileWatcher', () => {
  it('reports a file renamed over the watched one in the same tick as watch()', async () => {
    for (let i = 0; i < 20; i++) {
      const { file, changes, watcher } = setup();
      watcher.watch([file]);
      writeFileSync(`${file}.tmp`, `rotated ${i}\n`);
      renameSync(`${file}.tmp`, file);
      expect(await eventually(() => changes() === 1)).toBe(true);
    }
  });

  it('reports one burst of changes once, a later change again, and nothing after close()', async () => {
    const { file, changes, watcher } = setup();
    watcher.watch([file]);
    writeFileSync(file, 'two\n');
    writeFileSync(file, 'three, longer\n');
    expect(await eventually(() => changes() === 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(changes()).toBe(1);
    writeFileSync(file, 'four\n');
    expect(await eventually(() => changes() === 2)).toBe(true);
    watcher.close();
    writeFileSync(file, 'five, after close\n');
    await new Promise((r) => setTimeout(r, 300));
    expect(changes()).toBe(2);
  });

  it('reports a watched file that disappears and one that appears', async () => {
    const { file, changes, watcher } = setup();
    const later = `${file}.later`;
    watcher.watch([file, later]);
    rmSync(file);
    expect(await eventually(() => changes() === 1)).toBe(true);
    writeFileSync(later, 'now here\n');
    expect(await eventually(() => changes() === 2)).toBe(true);
  });
});
