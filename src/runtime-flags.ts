/**
 * The Node flags the relay is started with: `npm start`, the Docker image's CMD and the benchmark
 * all pass exactly these (a test checks the first two against this list). They cannot be set from
 * inside the process: V8 sizes its heap before any script runs.
 *
 * `--max-semi-space-size=16` caps the young generation at Node 20's default. Node 24's V8 grows it
 * to 64 MB per semi-space (128 MB committed) once enough survives scavenges — opening 1,000 streams
 * at once does that — and keeps it committed and resident after the burst: 96 MB of RSS that is
 * no stream's. Measured on Node 24.22 (benchmark `memory` scenario, one repetition): RSS per open
 * stream at 1,000 open 82 → 59 KB (SSE) and 80 → 55 KB (WebSocket); paced CPU per token no worse.
 * On Node 20 the flag is the default and changes nothing.
 *
 * `--single-threaded-gc` keeps V8's collector on the main thread: no parallel scavenge helpers,
 * no concurrent marking or sweeping threads. A relay is one process per core or two behind a load
 * balancer, and there the helpers have no idle core to run on: on this 2-core machine they took
 * ~100 ms of CPU per paced job of 20,000 tokens where the pipe's took 20–30, and their work
 * cost more than it saved the main thread. The same relay with and without the flag side by
 * side (bench/flags-ab.ts, Node 20): 3–12 % less CPU per paced token (C = 100, three runs) and
 * 12–17 % less per bulk token (two runs); Node 24 no worse within the noise. The price is longer
 * pauses: a scavenge at C = 100 paced took 5.3 ms on average instead of 2.6 (the longest ~12 ms
 * either way). Not accepted in NODE_OPTIONS.
 */
export const RELAY_NODE_FLAGS: readonly string[] = Object.freeze([
  '--max-semi-space-size=16',
  '--single-threaded-gc',
]);
