import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SimulatedUpstream } from '../src/upstream/simulated/index.js';
import { postMessages, sdkFor, startFastSim, userTurn } from './simulated-helpers.js';

let sim: SimulatedUpstream;
beforeAll(async () => {
  sim = await startFastSim();
});
afterAll(() => sim.close());

interface ErrorBody {
  type: string;
  error: { type: string; message: string };
  request_id: string;
}

/** Asserts the API's error shape and returns the message. */
async function expectApiError(res: Response, status: number, type: string): Promise<string> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as ErrorBody;
  expect(body).toEqual({
    type: 'error',
    error: { type, message: expect.any(String) },
    request_id: expect.any(String),
  });
  expect(res.headers.get('request-id')).toBe(body.request_id);
  expect(body.request_id).toMatch(/^req_sim_/);
  return body.error.message;
}

const valid = { model: 'claude-sim', max_tokens: 10, messages: userTurn('hello') };

describe('invalid requests get the API error shape, never a crash', () => {
  test('invalid JSON is 400 invalid_request_error', async () => {
    const message = await expectApiError(await postMessages(sim, '{"model": '), 400, 'invalid_request_error');
    expect(message).toMatch(/pars/i);
  });

  test.each([
    ['missing max_tokens', { model: 'claude-sim', messages: userTurn('x') }, 'max_tokens: Field required'],
    [
      'max_tokens 0',
      { ...valid, max_tokens: 0 },
      'max_tokens: ensure this value is greater than or equal to 1',
    ],
    [
      'max_tokens not an integer',
      { ...valid, max_tokens: 1.5 },
      'max_tokens: Input should be a valid integer',
    ],
    ['max_tokens a string', { ...valid, max_tokens: '10' }, 'max_tokens: Input should be a valid integer'],
    [
      'max_tokens above the output limit',
      { ...valid, max_tokens: 1_000_000 },
      'max_tokens: 1000000 > 128000, which is the maximum allowed number of output tokens for claude-sim',
    ],
    ['missing model', { max_tokens: 10, messages: userTurn('x') }, 'model: Field required'],
    ['missing messages', { model: 'claude-sim', max_tokens: 10 }, 'messages: Field required'],
    ['empty messages', { ...valid, messages: [] }, 'messages: at least one message is required'],
    [
      'a bad role',
      { ...valid, messages: [{ role: 'system', content: 'x' }] },
      "messages.0.role: Input should be 'user' or 'assistant'",
    ],
    [
      'a first message that is not user',
      { ...valid, messages: [{ role: 'assistant', content: 'x' }] },
      'messages: first message must use the "user" role',
    ],
    [
      'an empty user message',
      { ...valid, messages: [{ role: 'user', content: '' }] },
      'messages.0: user messages must have non-empty content',
    ],
    ['a body that is not an object', [1, 2, 3], 'Input should be a valid dictionary or object'],
  ])('%s is 400 with a message like the API', async (_name, body, expected) => {
    expect(await expectApiError(await postMessages(sim, body), 400, 'invalid_request_error')).toBe(expected);
  });

  test('consecutive turns of the same role are accepted (the API merges them)', async () => {
    const res = await postMessages(sim, {
      ...valid,
      messages: [
        { role: 'user', content: 'one' },
        { role: 'user', content: [{ type: 'text', text: 'two' }] },
      ],
    });
    expect(res.status).toBe(200);
  });

  test('an unknown directive key is 400 naming the key', async () => {
    const message = await expectApiError(
      await postMessages(sim, { ...valid, messages: userTurn('[[sim stauts=529]]') }),
      400,
      'invalid_request_error',
    );
    expect(message).toContain('unknown key "stauts"');
  });

  test('an unknown key in the model string and a bad directive value are 400 too', async () => {
    const inModel = await expectApiError(
      await postMessages(sim, { ...valid, model: 'claude-sim#nope=1' }),
      400,
      'invalid_request_error',
    );
    expect(inModel).toContain('"nope"');
    const badValue = await expectApiError(
      await postMessages(sim, { ...valid, messages: userTurn('[[sim status=200]]') }),
      400,
      'invalid_request_error',
    );
    expect(badValue).toContain('status');
  });

  test('the SDK sees a BadRequestError for an unknown directive', async () => {
    const error = await sdkFor(sim.url)
      .messages.create({ ...valid, messages: userTurn('[[sim bogus=1]]') })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, type: 'invalid_request_error' });
  });

  test('no API key is 401 authentication_error; x-api-key and Bearer are both accepted', async () => {
    await expectApiError(await postMessages(sim, valid, {}), 401, 'authentication_error');
    expect((await postMessages(sim, valid, { 'x-api-key': 'k' })).status).toBe(200);
    expect((await postMessages(sim, valid, { authorization: 'Bearer k' })).status).toBe(200);
  });

  test('an unknown route is 404 not_found_error, a wrong method is 405', async () => {
    const headers = { 'x-api-key': 'k' };
    await expectApiError(await fetch(`${sim.url}/v1/nothing`, { headers }), 404, 'not_found_error');
    const wrong = await fetch(`${sim.url}/v1/messages`, { headers });
    expect(wrong.headers.get('allow')).toBe('POST');
    await expectApiError(wrong, 405, 'invalid_request_error');
  });

  test('a body over 32 MB is 413 request_too_large', async () => {
    const huge = JSON.stringify({ ...valid, messages: userTurn('x'.repeat(33 * 1024 * 1024)) });
    await expectApiError(await postMessages(sim, huge), 413, 'request_too_large');
  });

  test('malformed HTTP gets a 400 and the server keeps serving', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(sim.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => {
        data += d.toString();
      });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
  });

  test('after all of the above the server still answers normally', async () => {
    const message = await sdkFor(sim.url).messages.create(valid);
    expect(message.content[0]?.type).toBe('text');
    const health = await fetch(`${sim.url}/health`);
    expect(await health.json()).toEqual({ status: 'ok' });
  });
});
