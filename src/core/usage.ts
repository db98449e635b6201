/**
 * Token accounting, in one place: how the upstream's raw counts are read, how cumulative updates
 * are merged, and what a stream reports when the upstream's final count never arrived. Streams
 * keep a `UsageMeter`; transports that re-spell usage for their clients read `Usage` from the
 * terminal event.
 */
import { assertNever, type ContentEvent, type Usage } from './events.js';

/** The upstream's own counts, before the relay says whether they are final. */
export type UsageCounts = Omit<Usage, 'estimated'>;

/** Token counts as the API sends them: any of them may be missing or null in a `message_delta`. */
export interface RawUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

/** The counts the relay keeps; absent input/output counts become 0, absent cache counts stay absent. */
export function usageCounts(u: RawUsage): UsageCounts {
  const counts: UsageCounts = {
    input_tokens: u.input_tokens ?? 0,
    output_tokens: u.output_tokens ?? 0,
  };
  if (u.cache_read_input_tokens != null) counts.cache_read_input_tokens = u.cache_read_input_tokens;
  if (u.cache_creation_input_tokens != null)
    counts.cache_creation_input_tokens = u.cache_creation_input_tokens;
  return counts;
}

/**
 * Anthropic's counts are cumulative (https://docs.claude.com/en/docs/build-with-claude/streaming):
 * keep the largest of each so a partial update never lowers them.
 */
export function mergeUsage(a: UsageCounts, b: UsageCounts): UsageCounts {
  return {
    input_tokens: Math.max(a.input_tokens, b.input_tokens),
    output_tokens: Math.max(a.output_tokens, b.output_tokens),
    ...maxOptional('cache_read_input_tokens', a, b),
    ...maxOptional('cache_creation_input_tokens', a, b),
  };
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
  report(counts: UsageCounts): void {
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

function maxOptional<K extends 'cache_read_input_tokens' | 'cache_creation_input_tokens'>(
  key: K,
  a: UsageCounts,
  b: UsageCounts,
): Partial<Pick<Usage, K>> {
  const x = a[key];
  const y = b[key];
  if (x === undefined && y === undefined) return {};
  return { [key]: Math.max(x ?? 0, y ?? 0) } as Partial<Pick<Usage, K>>;
}

/**
 * Every input token of the request: Anthropic counts cache reads and cache writes apart from
 * `input_tokens` (https://docs.claude.com/en/docs/build-with-claude/prompt-caching), where APIs
 * such as OpenAI's count them inside the prompt.
 */
export function totalInputTokens(usage: UsageCounts): number {
  return usage.input_tokens + (usage.cache_read_input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0);
}
