/**
 * The simulated Anthropic upstream: a local HTTP server that speaks the Messages API's exact
 * wire format, with faults and reply shapes chosen per request (see directives.ts), benchmark
 * stamping (see bench.ts) and per-request introspection (see records.ts).
 */
export { parseBenchTokens } from './bench.js';
export { DIRECTIVE_KEYS } from './directives.js';
export type { RequestOutcome, RequestRecord, RequestRecords } from './records.js';
export { type SimulatedUpstream, type SimulatedUpstreamOptions, startSimulatedUpstream } from './server.js';
