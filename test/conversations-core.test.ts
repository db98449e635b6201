/**
 * Conversations at the core: what is kept after each kind of ending, ownership, one exchange at a
 * time, and the limits — on the memory store with a fake clock, no sockets.
 */
import { describe, expect, it } from 'vitest';
import { type ConversationLimits, Conversations } from '../src/core/conversations.js';
import { RelayError } from '../src/core/errors.js';
import type { TerminalEvent } from '../src/core/events.js';
import { MemoryConversationStore } from '../src/core/memory-conversation-store.js';
import type { StreamRequest } from '../src/core/request.js';

const USAGE = { input_tokens: 1, output_tokens: 1, estimated: false };
const DONE: TerminalEvent = { type: 'done', stop_reason: 'end_turn', usage: USAGE };
const CANCELLED: TerminalEvent = {
  type: 'cancelled',
  reason: 'client',
  usage: { ...USAGE, estimated: true },
};
const FAILED: TerminalEvent = {
  type: 'error',
  code: 'upstream_error',
  message: 'boom',
  retryable: true,
  usage: USAGE,
};

function setup(limits: Partial<ConversationLimits> = {}, ttlMs = 60_000) {
  const clock = { now: 1_000_000 };
  const store = new MemoryConversationStore({ ttlMs, sweepIntervalMs: 0, now: () => clock.now });
  const conversations = new Conversations({
    store,
    now: () => clock.now,
    limits: { maxConversations: 100, maxTurns: 100, pendingTimeoutMs: 10_000, ...limits },
  });
  /** One whole exchange: begin, then finish with `terminal` and the reply `text`. */
  const exchange = async (
    id: string,
    req: StreamRequest,
    terminal: TerminalEvent,
    text: string,
    owner = 'me',
  ) => {
    const context = await conversations.begin(id, req, owner);
    conversations.finish(id, req, owner, { terminal, content: textContent(text) });
    return context;
  };
  return { clock, store, conversations, exchange };
}

/** A reply of one text block, as the stream's assembler gives it; none for an empty text. */
function textContent(text: string): { type: string; text: string }[] {
  return text === '' ? [] : [{ type: 'text', text }];
}

async function relayError(promise: Promise<unknown>): Promise<RelayError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof RelayError)) throw new Error(`expected a RelayError, got ${String(err)}`);
  return err;
}

describe('Conversations', () => {
  it('creates a conversation on first use and sends its history before each new message', async () => {
    const { conversations, exchange } = setup();
    const first = await exchange('c', { message: 'hello' }, DONE, 'hi there');
    expect(first.history).toEqual([]);
    const second = await conversations.begin('c', { message: 'and then?' }, 'me');
    expect(second.history).toEqual([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: textContent('hi there') },
    ]);
  });

  it('keeps a cancelled reply as its partial text, marked partial, and sends it as plain text', async () => {
    const { conversations, exchange } = setup();
    await exchange('c', { message: 'tell me a story' }, CANCELLED, 'Once upon');
    const view = await conversations.get('c', 'me');
    expect(view.messages).toEqual([
      { role: 'user', content: 'tell me a story' },
      { role: 'assistant', content: textContent('Once upon'), partial: true },
    ]);
    const next = await conversations.begin('c', { message: 'go on' }, 'me');
    expect(next.history[1]).toEqual({ role: 'assistant', content: textContent('Once upon') });
  });

  it('drops a failed exchange whole, user turn included, so roles keep alternating', async () => {
    const { conversations, exchange } = setup();
    await exchange('c', { message: 'one' }, DONE, 'reply one');
    await exchange('c', { message: 'two' }, FAILED, 'half a rep');
    const view = await conversations.get('c', 'me');
    expect(view.messages.map((m) => m.content)).toEqual(['one', textContent('reply one')]);
  });

  it('drops an exchange whose reply has no content (a cancel before the first block)', async () => {
    const { conversations, exchange } = setup();
    await exchange('c', { message: 'one' }, CANCELLED, '');
    expect((await conversations.get('c', 'me')).messages).toEqual([]);
  });

  it('sends the kept system prompt with later messages; a finish for a request it never began changes nothing', async () => {
    const { conversations, exchange } = setup();
    await exchange('c', { message: 'a', system: 'be brief' }, DONE, 'ok');
    expect((await conversations.begin('c', { message: 'b' }, 'me')).system).toBe('be brief');
    conversations.finish('c', { message: 'b' }, 'me', { terminal: DONE, content: textContent('x') });
    // That finish was for a request object begin never saw: it must not settle anything.
    expect((await conversations.get('c', 'me')).streaming).toBe(true);
  });

  it('applies a new system prompt from the exchange that sent it, and not from a failed one', async () => {
    const { conversations, exchange } = setup();
    await exchange('c', { message: 'a', system: 'be brief' }, DONE, 'ok');
    const failed = await exchange('c', { message: 'b', system: 'be verbose' }, FAILED, '');
    expect(failed.system).toBe('be verbose');
    expect((await conversations.get('c', 'me')).system).toBe('be brief');
    await exchange('c', { message: 'c', system: 'be poetic' }, DONE, 'roses');
    expect((await conversations.get('c', 'me')).system).toBe('be poetic');
    expect((await conversations.begin('c', { message: 'd' }, 'me')).system).toBe('be poetic');
  });

  it('refuses a second message while a reply is streaming with conflict', async () => {
    const { conversations } = setup();
    await conversations.begin('c', { message: 'first' }, 'me');
    const err = await relayError(conversations.begin('c', { message: 'second' }, 'me'));
    expect(err.code).toBe('conflict');
    expect(err.status).toBe(409);
  });

  it('lets a message sent right after the reply ended see that reply (no conflict)', async () => {
    const { conversations } = setup();
    const req: StreamRequest = { message: 'first' };
    await conversations.begin('c', req, 'me');
    conversations.finish('c', req, 'me', { terminal: DONE, content: textContent('answer') });
    // No await between finish and begin: begin must wait for the finish to be written.
    const next = await conversations.begin('c', { message: 'second' }, 'me');
    expect(next.history).toHaveLength(2);
  });

  it('takes over a stale lock, and the abandoned exchange can no longer change the history', async () => {
    const { clock, conversations } = setup({ pendingTimeoutMs: 5000 });
    const lost: StreamRequest = { message: 'lost' };
    await conversations.begin('c', lost, 'me');
    clock.now += 6000;
    const fresh: StreamRequest = { message: 'fresh' };
    await conversations.begin('c', fresh, 'me');
    conversations.finish('c', lost, 'me', { terminal: DONE, content: textContent('late') });
    conversations.finish('c', fresh, 'me', { terminal: DONE, content: textContent('current') });
    const view = await conversations.get('c', 'me');
    expect(view.messages.map((m) => m.content)).toEqual(['fresh', textContent('current')]);
  });

  it("hides another client's conversation: begin, get and delete answer not_found", async () => {
    const { conversations, exchange } = setup();
    await exchange('c', { message: 'mine' }, DONE, 'yours');
    for (const attempt of [
      conversations.begin('c', { message: 'theirs' }, 'someone-else'),
      conversations.get('c', 'someone-else'),
      conversations.delete('c', 'someone-else'),
    ]) {
      expect((await relayError(attempt)).code).toBe('not_found');
    }
    expect((await conversations.get('c', 'me')).messages).toHaveLength(2);
  });

  it('refuses a message that would take a conversation past maxTurns, saying what to do', async () => {
    const { conversations, exchange } = setup({ maxTurns: 4 });
    await exchange('c', { message: '1' }, DONE, 'r1');
    await exchange('c', { message: '2' }, DONE, 'r2');
    const err = await relayError(conversations.begin('c', { message: '3' }, 'me'));
    expect(err.code).toBe('limit_exceeded');
    expect(err.message).toMatch(/new conversation_id|DELETE/);
  });

  it('refuses a new conversation past maxConversations until one is deleted or expires', async () => {
    const { clock, conversations, exchange } = setup({ maxConversations: 1 }, 1000);
    await exchange('a', { message: 'x' }, DONE, 'y');
    const err = await relayError(conversations.begin('b', { message: 'x' }, 'me'));
    expect(err.code).toBe('limit_exceeded');
    expect(err.message).toMatch(/maximum of 1 conversations/);
    await conversations.delete('a', 'me');
    await exchange('b', { message: 'x' }, DONE, 'y');
    clock.now += 1001;
    await exchange('c', { message: 'x' }, DONE, 'y');
    expect((await relayError(conversations.get('b', 'me'))).code).toBe('not_found');
  });

  it('forgets an idle conversation after the TTL; the same id then starts afresh', async () => {
    const { clock, conversations, exchange } = setup({}, 1000);
    await exchange('c', { message: 'old' }, DONE, 'old reply');
    clock.now += 1001;
    expect((await relayError(conversations.get('c', 'me'))).code).toBe('not_found');
    expect((await conversations.begin('c', { message: 'new' }, 'me')).history).toEqual([]);
  });

  it('shows the history with timestamps and whether a reply is streaming', async () => {
    const { clock, conversations, exchange } = setup();
    await exchange('c', { message: 'hello', system: 'sys' }, DONE, 'hi');
    clock.now += 5000;
    await conversations.begin('c', { message: 'more' }, 'me');
    const view = await conversations.get('c', 'me');
    expect(view).toMatchObject({ conversation_id: 'c', system: 'sys', streaming: true });
    expect(Date.parse(view.updated_at) - Date.parse(view.created_at)).toBe(5000);
  });

  it('keeps the turns of a `messages` request as they were sent', async () => {
    const { conversations, exchange } = setup();
    const turns = [{ role: 'user' as const, content: [{ type: 'text', text: 'blocks' }] }];
    await exchange('c', { messages: turns }, DONE, 'ok');
    expect((await conversations.begin('c', { message: 'next' }, 'me')).history[0]).toEqual(turns[0]);
  });
});
