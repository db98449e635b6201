/**
 * The browser benchmark's figures the compare view shows beside a visitor's own: written by
 * `npm run bench -- --record` (bench/scenarios-browser.ts; generated, so biome leaves it alone).
 * @type {{ revision: string, date: string, command: string, many: any[], drop: any[] } | undefined}
 */
export const FIGURES = {
  "revision": "2b9a696",
  "date": "2026-12-05T14:53:53.804Z",
  "command": "npm run bench -- --record --targets direct,pipe,sse,ws,ws-mux,ws-batch",
  "many": [
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 58.5,
      "ttft_max_ms": 1982,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 35.5,
      "ttft_max_ms": 1988.4,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 42.8,
      "ttft_max_ms": 45.8,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 2069.8,
      "ttft_max_ms": 2172.8,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 2042.7,
      "ttft_max_ms": 6001.4,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 74.9,
      "ttft_max_ms": 79.7,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 67.5,
      "ttft_max_ms": 73.6,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 39.2,
      "ttft_max_ms": 39.6,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 60.1,
      "ttft_max_ms": 102.8,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 294.8,
      "ttft_max_ms": 477.4,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 116.4,
      "ttft_max_ms": 117.3,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 25.5,
      "ttft_max_ms": 37.4,
      "waited": 0,
      "complete": 24
    }
  ],
  "drop": [
    {
      "transport": "eventsource",
      "how": "network",
      "recovery_ms": 1007,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "fetch-sse",
      "how": "network",
      "recovery_ms": 28.2,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "ws",
      "how": "network",
      "recovery_ms": 29.7,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "eventsource",
      "how": "page",
      "recovery_ms": 24.8,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "fetch-sse",
      "how": "page",
      "recovery_ms": 26.7,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "ws",
      "how": "page",
      "recovery_ms": 28.9,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    }
  ]
};
