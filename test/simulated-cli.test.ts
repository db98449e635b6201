import { describe, expect, test } from 'vitest';
import { runSimulateUpstream } from '../src/cli/simulate-upstream.js';
import { sleep } from './simulated-helpers.js';

function capture() {
  const out: string[] = [];
  return { out, write: (text: string) => out.push(text) };
}

describe('relay simulate-upstream', () => {
  test('prints one ready line with the URL, serves, and stops cleanly when signalled', async () => {
    const stdout = capture();
    const controller = new AbortController();
    const running = runSimulateUpstream(
      ['--port', '0', '--ttft-ms', '0', '--tps', '0'],
      {},
      {
        stdout: stdout.write,
        signal: controller.signal,
      },
    );
    for (let i = 0; i < 200 && stdout.out.length === 0; i++) await sleep(10);
    expect(stdout.out).toHaveLength(1);
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(stdout.out[0] ?? '')?.[0];
    expect(stdout.out[0]).toMatch(/^simulated Anthropic upstream listening on http:\/\/127\.0\.0\.1:\d+\n$/);
    const res = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'claude-sim',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    expect(res.status).toBe(200);
    controller.abort();
    expect(await running).toBe(0);
    expect(stdout.out).toHaveLength(1);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  test('--help explains every flag and exits 0', async () => {
    const stdout = capture();
    expect(await runSimulateUpstream(['--help'], {}, { stdout: stdout.write })).toBe(0);
    const help = stdout.out.join('');
    for (const flag of [
      '--port',
      '--host',
      '--ttft-ms',
      '--tps',
      '--chars-per-token',
      '--benchmark',
      '--fixtures-dir',
      '--help',
    ]) {
      expect(help).toContain(flag);
    }
  });

  test('an unknown flag or a bad value is a usage error (ERR_PARSE_ARGS_*)', async () => {
    await expect(runSimulateUpstream(['--nope'], {}, {})).rejects.toMatchObject({
      code: expect.stringMatching(/^ERR_PARSE_ARGS/),
    });
    await expect(runSimulateUpstream(['--port', 'abc'], {}, {})).rejects.toMatchObject({
      code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE',
    });
    await expect(runSimulateUpstream(['--chars-per-token', '0'], {}, {})).rejects.toMatchObject({
      code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE',
    });
  });
});
