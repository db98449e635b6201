import { describe, expect, it } from 'vitest';
import { Latch } from '../src/core/latch.js';

describe('Latch: a one-time event for callbacks, a promise only on request', () => {
  it('calls every listener once, in the order added, in microtasks after fire returns', async () => {
    const latch = new Latch();
    const calls: string[] = [];
    for (const name of ['a', 'b', 'c']) latch.listen(() => calls.push(name));
    latch.fire();
    expect(calls).toEqual([]);
    await Promise.resolve();
    expect(calls).toEqual(['a', 'b', 'c']);
    latch.fire();
    await Promise.resolve();
    expect(calls).toEqual(['a', 'b', 'c']);
  });

  it('calls a listener added after firing in a microtask, as then on a resolved promise would', async () => {
    const latch = new Latch();
    latch.fire();
    let called = 0;
    latch.listen(() => called++);
    expect(called).toBe(0);
    await Promise.resolve();
    expect(called).toBe(1);
  });

  it('gives one promise to every asker, resolved on fire, or already resolved after it', async () => {
    const latch = new Latch();
    const waiting = latch.wait();
    expect(latch.wait()).toBe(waiting);
    let resolved = false;
    void waiting.then(() => {
      resolved = true;
    });
    await Promise.resolve();
    expect(resolved).toBe(false);
    latch.fire();
    await waiting;
    expect(resolved).toBe(true);
    const late = new Latch();
    late.fire();
    await expect(late.wait()).resolves.toBeUndefined();
  });

  it('runs listeners before the promise callbacks of the same firing', async () => {
    const latch = new Latch();
    const order: string[] = [];
    void latch.wait().then(() => order.push('promise'));
    latch.listen(() => order.push('listener'));
    latch.fire();
    await latch.wait();
    await Promise.resolve();
    expect(order).toEqual(['listener', 'promise']);
  });
});
