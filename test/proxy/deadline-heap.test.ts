// The stream registry's deadline heap (src/proxy/streams.ts): every item is on it at most
// once, moves when its deadline changes, leaves when removed, and comes off in deadline
// order — checked against a plain sorted model over random operations. A slip here would
// let a stream outlive its token's exp unjudged, or keep a closed stream's context alive.
import { describe, expect, it } from 'vitest';
import { DeadlineHeap, type HeapItem } from '../../src/proxy/streams.ts';
import { mulberry32 as rng } from '../helpers/random.ts';

interface Item extends HeapItem {
  readonly id: number;
}

describe('DeadlineHeap', () => {
  it.each([1, 2, 3, 42])('matches a sorted model over 5,000 random set / move / remove / pop operations (seed %i)', (seed) => {
    const random = rng(seed);
    const heap = new DeadlineHeap<Item>();
    const items: Item[] = Array.from({ length: 200 }, (_, id) => ({ id, deadline: Infinity, heapIndex: -1 }));
    const model = new Set<Item>();
    for (let op = 0; op < 5000; op++) {
      const item = items[Math.floor(random() * items.length)]!;
      const r = random();
      if (r < 0.5) {
        item.deadline = Math.floor(random() * 1000);
        heap.set(item);
        model.add(item);
      } else if (r < 0.8) {
        heap.remove(item);
        model.delete(item);
        expect(item.heapIndex).toBe(-1);
      } else {
        const top = heap.peek();
        const min = Math.min(...[...model].map((i) => i.deadline));
        if (model.size === 0) expect(top).toBeUndefined();
        else expect(top!.deadline).toBe(min);
        if (top !== undefined) {
          heap.remove(top);
          model.delete(top);
        }
      }
      expect(heap.size).toBe(model.size);
    }
    const drained: number[] = [];
    for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
      drained.push(top.deadline);
      heap.remove(top);
    }
    expect(drained).toEqual([...model].map((i) => i.deadline).sort((a, b) => a - b));
    expect(heap.size).toBe(0);
  });

  it('an item set twice is on the heap once, at its latest deadline', () => {
    const heap = new DeadlineHeap<Item>();
    const a: Item = { id: 1, deadline: 50, heapIndex: -1 };
    const b: Item = { id: 2, deadline: 40, heapIndex: -1 };
    heap.set(a);
    heap.set(b);
    a.deadline = 10;
    heap.set(a);
    expect(heap.size).toBe(2);
    expect(heap.peek()).toBe(a);
    a.deadline = 90;
    heap.set(a);
    expect(heap.peek()).toBe(b);
    heap.remove(b);
    heap.remove(b);
    expect(heap.size).toBe(1);
    expect(heap.peek()).toBe(a);
  });
});
