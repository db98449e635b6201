import { describe, expect, it } from 'vitest';
import { mergeUsage, UsageMeter, usageCounts } from '../src/core/usage.js';

describe('usage accounting', () => {
  it('reads raw counts: the fields sent, nulls left out, every other field verbatim', () => {
    expect(usageCounts({ output_tokens: 7 })).toEqual({ output_tokens: 7 });
    expect(
      usageCounts({
        input_tokens: null,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: null,
        cache_creation: { ephemeral_5m_input_tokens: 1, ephemeral_1h_input_tokens: 2 },
        service_tier: 'priority',
        some_future_count: 4,
      }),
    ).toEqual({
      cache_read_input_tokens: 3,
      cache_creation: { ephemeral_5m_input_tokens: 1, ephemeral_1h_input_tokens: 2 },
      service_tier: 'priority',
      some_future_count: 4,
    });
  });

  it("merges like the SDK: a later update's fields replace the earlier ones, even when lower", () => {
    const merged = mergeUsage(
      { input_tokens: 10, output_tokens: 1, cache_read_input_tokens: 4, service_tier: 'standard' },
      { input_tokens: 8, output_tokens: 9, cache_creation_input_tokens: 2 },
    );
    expect(merged).toEqual({
      input_tokens: 8,
      output_tokens: 9,
      cache_read_input_tokens: 4,
      cache_creation_input_tokens: 2,
      service_tier: 'standard',
    });
  });

  it('reports the upstream count as final; fields an update did not send are kept', () => {
    const meter = new UsageMeter();
    meter.report({ input_tokens: 12, output_tokens: 1, cache_read_input_tokens: 5 });
    meter.report({ output_tokens: 30 });
    expect(meter.final()).toEqual({
      input_tokens: 12,
      output_tokens: 30,
      cache_read_input_tokens: 5,
      estimated: false,
    });
  });

  it('estimates output as the largest of the reported count, one per delta and one per four characters', () => {
    const meter = new UsageMeter();
    meter.report({ input_tokens: 5, output_tokens: 1 });
    expect(meter.estimate()).toEqual({ input_tokens: 5, output_tokens: 1, estimated: true });
    meter.count({ type: 'tool_use', index: 0, id: 'toolu_1', name: 'f', kind: 'client' });
    meter.count({ type: 'text', text: 'ab', index: 1 });
    expect(meter.estimate().output_tokens).toBe(2); // two deltas beat ceil(2 / 4)
    meter.count({ type: 'thinking', text: 'x'.repeat(20), index: 2 });
    meter.count({ type: 'tool_input', partial_json: 'y'.repeat(18), index: 0 });
    expect(meter.estimate().output_tokens).toBe(10); // ceil(40 / 4) beats 4 deltas
    meter.report({ input_tokens: 5, output_tokens: 50 });
    expect(meter.estimate()).toEqual({ input_tokens: 5, output_tokens: 50, estimated: true });
  });
});
