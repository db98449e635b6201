/**
 * `relay chat --transport ws` asks for batched frames (`/v1/ws?frames=batch`) and hands every
 * event of an array to the chat in order, once; cancel still ends the answer with its receipt.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsChatClient } from '../src/cli/chat/ws-client.js';
import type { RelayEventBody } from '../src/core/events.js';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { range } from './helpers/ws.js';

let relay: RelayServer;
const upgrades: string[] = [];
const onUpgrade = (req: IncomingMessage): void => {
  upgrades.push(req.url ?? '');
};

beforeAll(async () => {
  relay = await startTestRelay();
  relay.server.prependListener('upgrade', onUpgrade);
});
afterAll(async () => {
  relay.server.off('upgrade', onUpgrade);
  await relay.close();
});

const seqOf = (event: RelayEventBody): number => (event as unknown as { seq: number }).seq;

describe('relay chat over WebSocket, batched', () => {
  it('opens /v1/ws?frames=batch and gets every event of two answers exactly once, in order', async () => {
    const client = new WsChatClient(relay.url);
    try {
      for (const tokens of [150, 40]) {
        const events: RelayEventBody[] = [];
        const terminal = await client.ask(
          { message: `chat batch ${tokens} [[sim tokens=${tokens}]]` },
          (event) => events.push(event),
          new AbortController().signal,
        );
        expect(terminal.type).toBe('done');
        expect(events.map(seqOf)).toEqual(range(1, tokens + 2));
        expect(events.at(-1)).toBe(terminal);
      }
      // One socket for the session, opened with the opt-in.
      expect(upgrades).toEqual(['/v1/ws?frames=batch']);
    } finally {
      await client.close();
    }
  });

  it('cancel ends the answer with one cancelled event after an unbroken run of seqs', async () => {
    const client = new WsChatClient(relay.url);
    try {
      const events: RelayEventBody[] = [];
      let cancelled = false;
      const terminal = await client.ask(
        { message: 'chat batch cancel [[sim tokens=400 tps=100]]' },
        (event) => {
          events.push(event);
          if (event.type === 'text' && !cancelled) {
            cancelled = true;
            void client.cancel();
          }
        },
        new AbortController().signal,
      );
      expect(terminal).toMatchObject({ type: 'cancelled', reason: 'client' });
      expect(events.map(seqOf)).toEqual(range(1, events.length));
      expect(events.filter((e) => e.type === 'cancelled')).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});
