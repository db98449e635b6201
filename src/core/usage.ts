/**
 * Token accounting, in one place: how the upstream's raw counts are read, how cumulative updates
 * are merged, and what a stream reports when the upstream's final count never arrived. Streams
 * keep a `UsageMeter`; transports that re-spell usage for their clients read `Usage` from the
 * terminal event.
 */
import { assertNever, type ContentEvent, type Usage, type UsageCounts } from './events.js';

export type { UsageCounts };

/** What one upstream event said about usage: only the fields it sent (non-null). */
export type UsageReport = Partial<UsageCounts>;

/**
 * Usage as the API sends it (`message_start.message.usage`, `message_delta.usage`): any field may
 * be missing or null, and fields the relay does not name yet are carried too.
 */
export type RawUsage = { readonly [field: string]: unknown };

/** The fields an update sent, nulls left out, everything else verbatim. */
export function usageCounts(u: RawUsage): UsageReport {
  const report: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(u)) if (value != null) report[field] = value;
  return report as UsageReport;
}

/**
 * The SDK's rule (MessageStream's accumulator): a field a later update sent replaces the earlier
 * one, so `message_delta`'s counts win over `message_start`'s; fields it did not send are kept.
 * Never the larger of the two: a count the API revised downwards is the true one.
 */
export function mergeUsage(a: UsageCounts, b: UsageReport): UsageCounts {
  return { ...a, ...b };
}

/**
 * One stream's usage: the upstream's latest counts, and enough about the content that reached the
 * log to estimate output tokens when those counts never become final (cancel, failure).
 */
export class UsageMeter {
  private reported: UsageCounts = { input_tokens: 0, output_tokens: 0 };
  private contentEvents = 0;
  private contentChars = 0;

  /** An update from the upstream (cumulative). */
  report(counts: UsageReport): void {
    this.reported = mergeUsage(this.reported, counts);
  }

  /** A content event that reached the log. */
  count(event: ContentEvent): void {
    this.contentEvents++;
    switch (event.type) {
      case 'text':
      case 'thinking':
        this.contentChars += event.text.length;
        break;
      case 'tool_input':
        this.contentChars += event.partial_json.length;
        break;
      case 'tool_use':
      case 'citation':
      case 'signature':
      case 'block':
      case 'delta':
        break;
      default:
        assertNever(event, 'content event');
    }
  }

  /** The upstream's own count, for `done`. */
  final(): Usage {
    return { ...this.reported, estimated: false };
  }

  /**
   * Output tokens when the upstream's final count never arrived: the largest of what it reported,
   * one per content delta, and a 4-characters-a-token guess. A lower bound, marked estimated.
   */
  estimate(): Usage {
    return {
      ...this.reported,
      output_tokens: Math.max(
        this.reported.output_tokens,
        this.contentEvents,
        Math.ceil(this.contentChars / 4),
      ),
      estimated: true,
    };
  }
}

/**
 * Every input token of the request: Anthropic counts cache reads and cache writes apart from
 * `input_tokens` (https://docs.claude.com/en/docs/build-with-claude/prompt-caching), where APIs
 * such as OpenAI's count them inside the prompt.
 */
export function totalInputTokens(usage: UsageCounts): number {
  return usage.input_tokens + (usage.cache_read_input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0);
}
