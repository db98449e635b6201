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
 */
export const RELAY_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=16']);
