import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { WsClient, wsUrl } from './helpers/ws.js';

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay({ wsMaxPayloadBytes: 4096, wsMaxMessagesPerSecond: 40 });
});
afterAll(async () => {
  await relay.close();
});

let n = 0;
function prompt(directives = 'tokens=4'): string {
  return `ws abuse test ${++n} ${process.pid} [[sim ${directives}]]`;
}

/** The relay still serves a whole stream on this socket. */
async function stillWorks(client: WsClient): Promise<void> {
  const id = await client.start({ message: prompt() });
  expect((await client.untilTerminal(id)).at(-1)?.type).toBe('done');
}

describe('bad frames get an error message and the connection stays open', () => {
  const cases: [string, string | Buffer, Record<string, unknown>][] = [
    ['text that is not JSON', '{"type": "start",', { code: 'invalid_message', message: /not valid JSON/ }],
    ['a binary frame', Buffer.from('{"type":"ping"}'), { code: 'invalid_message', message: /binary/ }],
    ['a JSON array', '[1,2]', { code: 'invalid_message', message: /JSON object/ }],
    ['a JSON string', '"ping"', { code: 'invalid_message' }],
    ['no type', '{"t":1}', { code: 'invalid_message', message: /type/ }],
    ['an unknown type', '{"type":"subscribe","ref":"a1"}', { code: 'invalid_message', ref: 'a1' }],
    ['start without a request', '{"type":"start","ref":"a2"}', { code: 'invalid_message', ref: 'a2' }],
    [
      'start with an unknown field',
      '{"type":"start","ref":"a3","request":{"message":"x"},"extra":1}',
      { code: 'invalid_message', ref: 'a3', message: /unknown field\(s\) extra/ },
    ],
    [
      'start whose request fails the stream request schema (the code POST /v1/streams answers)',
      '{"type":"start","ref":"a4","request":{"message":"x","on_disconnect":"never"}}',
      { code: 'invalid_request', ref: 'a4', message: /request\.on_disconnect/ },
    ],
    [
      'start with neither message nor messages',
      '{"type":"start","ref":"a5","request":{"model":"m"}}',
      { code: 'invalid_request', ref: 'a5', message: /either "message"/ },
    ],
    ['cancel without stream_id', '{"type":"cancel"}', { code: 'invalid_message', message: /stream_id/ }],
    [
      'resume with a negative after',
      '{"type":"resume","stream_id":"str_x","after":-1}',
      { code: 'invalid_message', stream_id: 'str_x', message: /after/ },
    ],
    [
      'resume with after as a string',
      '{"type":"resume","stream_id":"str_y","after":"3"}',
      { code: 'invalid_message', stream_id: 'str_y' },
    ],
  ];

  for (const [name, frame, expected] of cases) {
    it(`answers ${String(expected.code)} for ${name}`, async () => {
      const client = await WsClient.open(wsUrl(relay.url));
      try {
        client.ws.send(frame, { binary: Buffer.isBuffer(frame) });
        const error = await client.waitFor((m) => m.type === 'error');
        const { message, ...fields } = expected;
        expect(error).toMatchObject({ ...fields, retryable: false });
        expect(error.seq).toBeUndefined();
        if (message instanceof RegExp) expect(error.message).toMatch(message);
        await stillWorks(client);
      } finally {
        await client.close();
      }
    });
  }

  it('answers a refused start (limit_exceeded) with its code and ref', async () => {
    const tight = await startTestRelay({ maxStreams: 1 });
    const client = await WsClient.open(wsUrl(tight.url));
    try {
      const running = await client.start({ message: prompt('tokens=400 tps=100') });
      client.send({ type: 'start', ref: 'second', request: { message: prompt() } });
      expect(await client.waitFor((m) => m.type === 'error')).toMatchObject({
        code: 'limit_exceeded',
        ref: 'second',
      });
      client.send({ type: 'cancel', stream_id: running });
      await client.untilTerminal(running);
    } finally {
      await client.close();
      await tight.close();
    }
  });
});

describe('abuse closes the connection with a documented code', () => {
  it('closes with 1009 on a frame over wsMaxPayloadBytes', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    client.send({ type: 'ping', t: 'x'.repeat(8192) });
    expect((await client.closed).code).toBe(1009);
  });

  it('closes with 1008 on a burst far over wsMaxMessagesPerSecond (more than four seconds of frames at once)', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    for (let i = 0; i < 1000; i++) client.send({ type: 'ping', t: i });
    const closed = await client.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/messages per second/);
    // The frames within the bucket (two seconds' worth) and its allowed debt (two more) were served.
    expect(client.messages.filter((m) => m.type === 'pong').length).toBeGreaterThan(0);
    expect(client.messages.filter((m) => m.type === 'pong').length).toBeLessThanOrEqual(5 * 40);
  }, 20_000);

  it('pauses reading, instead of closing, a client a little over wsMaxMessagesPerSecond for a moment', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      // 100 frames at once: over one second's 40 but within the two-second bucket and its debt.
      for (let i = 0; i < 100; i++) client.send({ type: 'ping', t: i });
      await client.waitFor((m) => m.type === 'pong' && m.t === 99, 10_000);
      expect(client.ws.readyState).toBe(client.ws.OPEN);
    } finally {
      await client.close();
    }
  }, 20_000);

  it('answers 404 with the JSON error body to an upgrade on any other path', async () => {
    const ws = new WebSocket(`${relay.url.replace('http', 'ws')}/v1/nope`);
    ws.on('error', () => {});
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve) => {
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    });
    expect(status).toBe(404);
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'not_found' } });
  });

  it('survives raw garbage: broken handshakes, resets and invalid frames', async () => {
    const { port } = relay;
    const raw = (payload: Buffer | string, reset: boolean): Promise<void> =>
      new Promise((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(payload);
          if (reset) socket.resetAndDestroy();
          else socket.end();
        });
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.resume();
      });
    const upgrade =
      'GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    await raw(`${upgrade}`, true);
    await raw(upgrade.slice(0, 40), true);
    await raw('GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', false);
    // An unmasked client frame and random bytes after a good handshake: `ws` closes with 1002.
    await raw(Buffer.concat([Buffer.from(upgrade), Buffer.from([0x81, 0x02, 0x68, 0x69])]), false);
    await raw(Buffer.concat([Buffer.from(upgrade), Buffer.from('\xff\x00garbage\x13\x37')]), true);
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      await stillWorks(client);
    } finally {
      await client.close();
    }
  });
});
