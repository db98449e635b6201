/**
 * The browser benchmark's figures the compare view shows beside a visitor's own: written by
 * `npm run bench -- --record` (bench/scenarios-browser.ts; generated, so biome leaves it alone).
 * @type {{ revision: string, date: string, command: string, many: any[], drop: any[] } | undefined}
 */
export const FIGURES = {
  "revision": "e4f0efc+dirty",
  "date": "2026-12-05T01:07:29.153Z",
  "command": "npm run bench -- --record",
  "many": [
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 75.5,
      "ttft_max_ms": 1995.2,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 45.6,
      "ttft_max_ms": 1978.8,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 22.3,
      "ttft_max_ms": 22.5,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 2055.3,
      "ttft_max_ms": 2182.6,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 2062,
      "ttft_max_ms": 5991.6,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 138.5,
      "ttft_max_ms": 139.3,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 85,
      "ttft_max_ms": 90.5,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 55.4,
      "ttft_max_ms": 56.2,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 21.4,
      "ttft_max_ms": 23.2,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 127.3,
      "ttft_max_ms": 142,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 84.2,
      "ttft_max_ms": 123,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 148.3,
      "ttft_max_ms": 149.2,
      "waited": 0,
      "complete": 24
    }
  ],
  "drop": [
    {
      "transport": "eventsource",
      "how": "network",
      "recovery_ms": 1010,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "fetch-sse",
      "how": "network",
      "recovery_ms": 30,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "ws",
      "how": "network",
      "recovery_ms": 32,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "eventsource",
      "how": "page",
      "recovery_ms": 30.6,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "fetch-sse",
      "how": "page",
      "recovery_ms": 28,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "ws",
      "how": "page",
      "recovery_ms": 25.7,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    }
  ]
};
