/**
 * Folds a stream's content events back into the `content` array the Messages API returns
 * non-streaming, by the SDK's own accumulation rules (MessageStream): a block starts as its start
 * event says, text and thinking deltas append, a citation is pushed onto the text block's
 * `citations`, a signature is set, tool input is the parsed concatenation of its JSON deltas.
 * A generation folds its log when asked (conversations keep the result as the assistant turn, and
 * `GET /v1/streams/:id?include=message` answers it, so a client can send the next turn without
 * rebuilding it); only once the log is about to drop the stream's start does it keep an assembler
 * fed as events are appended (O(1) per event), so the reply survives the log's bounds.
 */
import {
  assertNever,
  type ContentEvent,
  isContent,
  type RawBlock,
  type RelayEvent,
  type TerminalEvent,
  type ToolKind,
  type Usage,
} from './events.js';

export type ContentBlock = RawBlock;

/** The assembled reply (`GET /v1/streams/:id?include=message`): the non-streaming Message's shape. */
export interface AssembledMessage {
  type: 'message';
  role: 'assistant';
  model: string;
  content: ContentBlock[];
  stop_reason: string | null;
  stop_details?: Record<string, unknown>;
  /** Null unless a stop sequence ended the reply, as the non-streaming Message says it. */
  stop_sequence: string | null;
  /** The code-execution container, when the request used one (the API's `container`). */
  container?: Record<string, unknown>;
  usage: Usage;
}

/** Folds a stream's events (from its first) into the Message it was; complete once it is `done`. */
export function assembleMessage(
  model: string,
  events: Iterable<RelayEvent>,
  terminal: TerminalEvent | undefined,
  usage: Usage,
): AssembledMessage {
  return assemble(events).message(model, terminal, usage);
}

/** An assembler fed a stream's events from its first (non-content events are passed over). */
export function assemble(events: Iterable<RelayEvent>): MessageAssembler {
  const assembler = new MessageAssembler();
  for (const event of events) if (isContent(event)) assembler.add(event);
  return assembler;
}

/** The Message shape around assembled content: the stop fields of `done`, and the usage. */
function messageOf(
  model: string,
  content: ContentBlock[],
  terminal: TerminalEvent | undefined,
  usage: Usage,
): AssembledMessage {
  const done = terminal?.type === 'done' ? terminal : undefined;
  return {
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: done?.stop_reason ?? null,
    ...(done?.stop_details === undefined ? {} : { stop_details: done.stop_details }),
    stop_sequence: done?.stop_sequence ?? null,
    ...(done?.container === undefined ? {} : { container: done.container }),
    usage,
  };
}

const TOOL_BLOCK_TYPE: Readonly<Record<ToolKind, string>> = {
  client: 'tool_use',
  server: 'server_tool_use',
  mcp: 'mcp_tool_use',
};

/** The blocks of one reply as they grow; `content()` is the API's `content` array. */
export class MessageAssembler {
  private readonly blocks: ContentBlock[] = [];
  /** Tool input JSON so far, by block index. */
  private readonly json = new Map<number, string>();
  /** The highest index started: earlier blocks are complete (the API streams blocks in order). */
  private last = -1;

  /**
   * Folds one event in. On the hot path (every content event of every stream): a text or thinking
   * delta is one string append onto its block, nothing else is allocated.
   */
  add(event: ContentEvent): void {
    switch (event.type) {
      case 'text': {
        const block = this.blocks[event.index] ?? this.open(event.index, emptyText());
        block.text = typeof block.text === 'string' ? block.text + event.text : event.text;
        break;
      }
      case 'thinking': {
        const block = this.blocks[event.index] ?? this.open(event.index, emptyThinking());
        block.thinking = typeof block.thinking === 'string' ? block.thinking + event.text : event.text;
        break;
      }
      case 'signature':
        (this.blocks[event.index] ?? this.open(event.index, emptyThinking())).signature = event.signature;
        break;
      case 'citation': {
        const block = this.blocks[event.index] ?? this.open(event.index, emptyText());
        if (Array.isArray(block.citations)) (block.citations as unknown[]).push(event.citation);
        else block.citations = [event.citation];
        break;
      }
      case 'tool_use':
        this.set(
          event.index,
          event.block === undefined
            ? { type: TOOL_BLOCK_TYPE[event.kind], id: event.id, name: event.name, input: {} }
            : { ...event.block },
        );
        break;
      case 'tool_input':
        this.json.set(event.index, (this.json.get(event.index) ?? '') + event.partial_json);
        break;
      case 'block': {
        const block = { ...event.block };
        // Citations are pushed onto it later: never onto the array the logged event holds.
        if (Array.isArray(block.citations)) block.citations = [...(block.citations as unknown[])];
        this.set(event.index, block);
        break;
      }
      case 'delta':
        // A delta type nobody knows cannot be applied; the SDK's accumulator skips it too.
        break;
      default:
        assertNever(event, 'content event');
    }
  }

  /** The `content` array; a tool input whose JSON does not parse (cut short) stays as it started. */
  content(): ContentBlock[] {
    return this.finished(this.blocks.length);
  }

  /** The reply as a Message: complete once `terminal` is `done`. */
  message(model: string, terminal: TerminalEvent | undefined, usage: Usage): AssembledMessage {
    return messageOf(model, this.content(), terminal, usage);
  }

  /**
   * What a cancelled reply keeps: every block that was complete, plus the last one only when it
   * is text (partial text is still text; a thinking block without its signature, or half a tool
   * call, would be refused by the API).
   */
  completeContent(): ContentBlock[] {
    const last = this.blocks[this.last];
    const keepLast = last !== undefined && last.type === 'text' && String(last.text ?? '') !== '';
    return this.finished(keepLast ? this.blocks.length : this.last);
  }

  /**
   * Blocks below `end`, tool inputs parsed: copies (citations too), so what a caller keeps or
   * sends never changes as the stream goes on.
   */
  private finished(end: number): ContentBlock[] {
    const out: ContentBlock[] = [];
    for (let index = 0; index < end; index++) {
      const block = this.blocks[index];
      if (block === undefined) continue;
      const copy = { ...block };
      if (Array.isArray(block.citations)) copy.citations = [...(block.citations as unknown[])];
      const json = this.json.get(index);
      if (json !== undefined && json !== '') copy.input = parseOr(json, block.input);
      out.push(copy);
    }
    return out;
  }

  private open(index: number, block: ContentBlock): ContentBlock {
    this.set(index, block);
    return block;
  }

  private set(index: number, block: ContentBlock): void {
    this.blocks[index] = block;
    if (index > this.last) this.last = index;
  }
}

function emptyText(): ContentBlock {
  return { type: 'text', text: '' };
}

function emptyThinking(): ContentBlock {
  return { type: 'thinking', thinking: '', signature: '' };
}

function parseOr(json: string, fallback: unknown): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return fallback;
  }
}
