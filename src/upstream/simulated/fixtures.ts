/**
 * Replay of recorded Anthropic streams (`fixture=<name>`): the file's bytes, unchanged, one SSE
 * frame at a time so the normal pacing and faults apply (every `content_block_delta` frame is a
 * token).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Frame } from './wire.js';

/** Sub-directories searched after the fixtures dir itself. */
const SUBDIRS = ['', 'anthropic-sdk'] as const;

/**
 * The repository's `fixtures/` (recorded Anthropic streams, see its README): the nearest ancestor
 * of this module holding a `package.json` is the repo root (works from `src/` under vitest and
 * from `dist/src/`).
 */
export function defaultFixturesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json'))) return resolve(dir, 'fixtures');
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return resolve(process.cwd(), 'fixtures');
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * The bytes of `<name>.sse`, or undefined when there is no such fixture. The name is re-checked
 * here (not only in the directive parser) so no caller can escape the fixtures dir.
 */
export async function loadFixture(fixturesDir: string, name: string): Promise<Buffer | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) return undefined;
  const root = resolve(fixturesDir);
  for (const sub of SUBDIRS) {
    const path = resolve(root, sub, `${name}.sse`);
    if (!inside(root, path)) continue;
    try {
      return await readFile(path);
    } catch {
      // Not in this directory; try the next.
    }
  }
  return undefined;
}

const FRAME_END = Buffer.from('\n\n');
const START = Buffer.from('event: message_start');
const DELTA = Buffer.from('event: content_block_delta');

/** Splits the file after each blank line; the frames concatenate back to the exact bytes. */
export function fixtureFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let from = 0;
  while (from < bytes.length) {
    const end = bytes.indexOf(FRAME_END, from);
    const to = end < 0 ? bytes.length : end + FRAME_END.length;
    const chunk = bytes.subarray(from, to);
    const head = chunk.subarray(chunk[0] === 0x0a ? 1 : 0);
    const kind: Frame['kind'] = head.subarray(0, START.length).equals(START)
      ? 'start'
      : head.subarray(0, DELTA.length).equals(DELTA)
        ? 'token'
        : 'meta';
    frames.push({ kind, render: () => chunk });
    from = to;
  }
  return frames;
}
