import { MemoryStreamStore } from '../src/core/memory-stream-store.js';
import { describeStreamStore } from './stream-store.contract.js';

describeStreamStore('memory', async (config) => {
  const store = new MemoryStreamStore({
    retentionMs: config.retentionMs,
    cursor: { maxLagEvents: config.maxLagEvents, batch: config.cursorBatch },
  });
  return { stores: [store, store], close: async () => {} };
});
