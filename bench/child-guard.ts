/**
 * Preloaded (`node --import`) into every server process the bench starts — the relay, the pipe,
 * the simulator — over an IPC channel:
 *
 * - the process exits when the orchestrator goes away, so a crashed or killed bench leaves no orphan;
 * - `{type:"memory"}` → forces a full GC (when started with `--expose-gc`) and answers
 *   `process.memoryUsage()` and the young generation's size, so heap per stream is measured
 *   without a new route in the relay.
 *
 * The channel is unref'd: it never keeps a process alive that would otherwise exit.
 */

import { getHeapSpaceStatistics } from 'node:v8';

interface MemoryRequest {
  readonly type: 'memory';
  readonly id: number;
}

function isMemoryRequest(msg: unknown): msg is MemoryRequest {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'memory';
}

if (process.send !== undefined) {
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg: unknown) => {
    if (!isMemoryRequest(msg)) return;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc !== undefined) {
      gc();
      gc();
    }
    // The young generation's committed size: V8 grows it under load and keeps it after a GC, so
    // it is part of an RSS difference without being any stream's (the memory table shows it).
    const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    process.send?.({
      type: 'memory',
      id: msg.id,
      gc: gc !== undefined,
      usage: process.memoryUsage(),
      youngBytes: young?.space_size ?? 0,
    });
  });
  process.channel?.unref();
}
