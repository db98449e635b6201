/**
 * The browser benchmark's figures the compare view shows beside a visitor's own: written by
 * `npm run bench -- --record` (bench/scenarios-browser.ts; generated, so biome leaves it alone).
 * @type {{ revision: string, date: string, command: string, many: any[], drop: any[] } | undefined}
 */
export const FIGURES = {
  "revision": "1b4733a",
  "date": "2026-12-05T06:38:53.942Z",
  "command": "npm run bench -- --record --targets direct,pipe,sse,ws,ws-mux,ws-batch",
  "many": [
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 187.6,
      "ttft_max_ms": 2053.1,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 95.1,
      "ttft_max_ms": 2022.2,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 56.5,
      "ttft_max_ms": 59.2,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 2070.5,
      "ttft_max_ms": 2166.1,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 2095.2,
      "ttft_max_ms": 6033.5,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 70.5,
      "ttft_max_ms": 93.9,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 169.4,
      "ttft_max_ms": 179.6,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 38.2,
      "ttft_max_ms": 51.9,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 36.6,
      "ttft_max_ms": 36.7,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 273.3,
      "ttft_max_ms": 366.5,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 187.4,
      "ttft_max_ms": 279.2,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 62,
      "ttft_max_ms": 64.1,
      "waited": 0,
      "complete": 24
    }
  ],
  "drop": [
    {
      "transport": "eventsource",
      "how": "network",
      "recovery_ms": 1011,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "fetch-sse",
      "how": "network",
      "recovery_ms": 26.7,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "ws",
      "how": "network",
      "recovery_ms": 26.7,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "eventsource",
      "how": "page",
      "recovery_ms": 26.3,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "fetch-sse",
      "how": "page",
      "recovery_ms": 29.5,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "ws",
      "how": "page",
      "recovery_ms": 25.1,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    }
  ]
};
