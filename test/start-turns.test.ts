import { describe, expect, it } from 'vitest';
import { StartTurns } from '../src/core/start-turns.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('StartTurns', () => {
  it('admits at most perTurn starts per turn of the event loop, in the order they asked', async () => {
    const turns = new StartTurns(4);
    const admitted: number[] = [];
    for (let i = 0; i < 10; i++) void turns.next().then(() => admitted.push(i));
    expect(turns.pending).toBe(10);
    await Promise.resolve();
    expect(admitted).toEqual([]); // never within the turn that asked
    await tick();
    expect(admitted).toEqual([0, 1, 2, 3]);
    await tick();
    expect(admitted).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await tick();
    expect(admitted).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(turns.pending).toBe(0);
  });

  it('a start asked for by an admitted one waits for the next turn', async () => {
    const turns = new StartTurns(2);
    const order: string[] = [];
    void turns.next().then(() => {
      order.push('a');
      void turns.next().then(() => order.push('c'));
    });
    void turns.next().then(() => order.push('b'));
    await tick();
    expect(order).toEqual(['a', 'b']);
    await tick();
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('lets I/O and timers of the same turn run between two batches', async () => {
    const turns = new StartTurns(1);
    const order: string[] = [];
    void turns.next().then(() => {
      order.push('start 1');
      // What a started stream's upstream answer is: a callback on the next turn.
      setImmediate(() => order.push('answer 1'));
    });
    void turns.next().then(() => order.push('start 2'));
    void turns.next().then(() => order.push('start 3'));
    for (let i = 0; i < 4; i++) await tick();
    expect(order).toEqual(['start 1', 'start 2', 'answer 1', 'start 3']);
  });
});
