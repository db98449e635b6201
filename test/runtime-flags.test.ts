import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RELAY_NODE_FLAGS } from '../src/runtime-flags.js';
import { spawnRelay } from './helpers/relay-process.js';

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

/** The young generation's committed size (both semi-spaces) after a burst of survivors, in MiB. */
function youngGenerationAfterBurst(flags: readonly string[]): number {
  // Three million objects kept alive: enough survivors for V8 to grow the young generation to
  // whatever its maximum is (Node 24's default: 128 MiB).
  const script = `const v8 = require('node:v8'); const keep = [];
    for (let i = 0; i < 3e6; i++) keep.push({ i });
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    process.stdout.write(JSON.stringify({ mib: s.space_size / 1048576, kept: keep.length }));`;
  const out = JSON.parse(
    execFileSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8', timeout: 30_000 }),
  ) as { mib: number; kept: number };
  expect(out.kept).toBe(3e6);
  return out.mib;
}

/**
 * What each scavenge's background helpers spent (ms, from `--trace-gc-nvp`'s
 * `background.scavenge.parallel`) while a script keeps enough objects alive to scavenge often.
 */
function scavengeHelperMs(flags: readonly string[]): number[] {
  const script = `const keep = []; for (let i = 0; i < 3e6; i++) keep.push({ i, s: 'x' + i });
    process.stdout.write('kept ' + keep.length + '\\n');`;
  const out = execFileSync(process.execPath, [...flags, '--trace-gc-nvp', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(out).toContain('kept 3000000');
  return out
    .split('\n')
    .filter((line) => line.includes(' gc=s '))
    .map((line) => {
      const ms = /background\.scavenge\.parallel=([0-9.]+)/.exec(line)?.[1];
      expect(ms, `a scavenge line reports its helpers' time: ${line.slice(0, 120)}`).toBeDefined();
      return Number(ms);
    });
}

describe('the Node flags the relay ships with', () => {
  it('are what npm start and the Docker image run the relay with', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(['node', ...RELAY_NODE_FLAGS, 'bin/relay.js', 'serve'].join(' '));
    const cmd = /^CMD (\[.*\])$/m.exec(read('deploy/Dockerfile'))?.[1];
    expect(cmd, 'deploy/Dockerfile has a CMD in exec form').toBeDefined();
    expect(JSON.parse(cmd!)).toEqual(['node', ...RELAY_NODE_FLAGS, 'bin/relay.js', 'serve']);
  });

  it('are accepted by this runtime: the relay starts with them and streams', async () => {
    const relay = await spawnRelay({}, 15_000, RELAY_NODE_FLAGS);
    try {
      const res = await fetch(`${relay.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'hello' }),
      });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain('event: done');
      expect(relay.stderr()).not.toMatch(/bad option|not allowed/i);
    } finally {
      await relay.kill();
    }
  });

  it('keep the garbage collector on the main thread: no scavenge hands work to helper threads', () => {
    // Without the flag the same script's scavenges do use helpers (this runtime reports them).
    const withoutFlag = scavengeHelperMs(RELAY_NODE_FLAGS.filter((f) => f !== '--single-threaded-gc'));
    expect(withoutFlag.length).toBeGreaterThan(3);
    expect(Math.max(...withoutFlag)).toBeGreaterThan(0);
    const shipped = scavengeHelperMs(RELAY_NODE_FLAGS);
    expect(shipped.length).toBeGreaterThan(3);
    expect(shipped.filter((ms) => ms > 0)).toEqual([]);
  });

  it('cap the young generation at 32 MiB after a burst of survivors, whatever the runtime default', () => {
    expect(youngGenerationAfterBurst(RELAY_NODE_FLAGS)).toBeLessThanOrEqual(32);
  });
});
