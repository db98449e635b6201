/**
 * The browser benchmark's figures the compare view shows beside a visitor's own: written by
 * `npm run bench -- --record` (bench/scenarios-browser.ts; generated, so biome leaves it alone).
 * @type {{ revision: string, date: string, command: string, many: any[], drop: any[] } | undefined}
 */
export const FIGURES = {
  "revision": "90c0868",
  "date": "2026-12-05T09:35:13.571Z",
  "command": "npm run bench -- --record --targets direct,pipe,sse,ws,ws-mux,ws-batch",
  "many": [
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 109.8,
      "ttft_max_ms": 2014.8,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 70.4,
      "ttft_max_ms": 2011,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 27.2,
      "ttft_max_ms": 27.5,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 2091.3,
      "ttft_max_ms": 2162.5,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 2026.4,
      "ttft_max_ms": 5965.7,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 88.9,
      "ttft_max_ms": 128.9,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 63.7,
      "ttft_max_ms": 66.9,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 30.3,
      "ttft_max_ms": 36.9,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 18.7,
      "ttft_max_ms": 19.4,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 243.4,
      "ttft_max_ms": 254.2,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 84.3,
      "ttft_max_ms": 146.5,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 82.8,
      "ttft_max_ms": 102.7,
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
      "recovery_ms": 31.1,
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
      "recovery_ms": 27.6,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "fetch-sse",
      "how": "page",
      "recovery_ms": 31.2,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "ws",
      "how": "page",
      "recovery_ms": 30.2,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    }
  ]
};
