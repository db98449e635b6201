/**
 * The browser benchmark's figures the compare view shows beside a visitor's own: written by
 * `npm run bench -- --record` (bench/scenarios-browser.ts; generated, so biome leaves it alone).
 * @type {{ revision: string, date: string, command: string, many: any[], drop: any[] } | undefined}
 */
export const FIGURES = {
  "revision": "6cbd714+dirty",
  "date": "2026-12-05T00:25:52.491Z",
  "command": "npm run bench -- --quick --scenarios browser",
  "many": [
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 245.7,
      "ttft_max_ms": 1062.2,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 110,
      "ttft_max_ms": 1093.5,
      "waited": 1,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 141.1,
      "ttft_max_ms": 141.3,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 1114.4,
      "ttft_max_ms": 1231.5,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h1",
      "protocol": "http/1.1",
      "timed_out": false,
      "ttft_p50_ms": 1215.2,
      "ttft_max_ms": 3204.6,
      "waited": 18,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h1",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 69,
      "ttft_max_ms": 112.3,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "eventsource",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 98,
      "ttft_max_ms": 117.4,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "fetch-sse",
      "n": 7,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 101.8,
      "ttft_max_ms": 107.9,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "ws",
      "n": 7,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 188.7,
      "ttft_max_ms": 189.2,
      "waited": 0,
      "complete": 7
    },
    {
      "transport": "eventsource",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 403.3,
      "ttft_max_ms": 462,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "fetch-sse",
      "n": 24,
      "http": "h2",
      "protocol": "h2",
      "timed_out": false,
      "ttft_p50_ms": 154.6,
      "ttft_max_ms": 229.7,
      "waited": 0,
      "complete": 24
    },
    {
      "transport": "ws",
      "n": 24,
      "http": "h2",
      "protocol": "websocket",
      "timed_out": false,
      "ttft_p50_ms": 211,
      "ttft_max_ms": 213.9,
      "waited": 0,
      "complete": 24
    }
  ],
  "drop": [
    {
      "transport": "eventsource",
      "how": "network",
      "recovery_ms": 1021,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "fetch-sse",
      "how": "network",
      "recovery_ms": 27.6,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "ws",
      "how": "network",
      "recovery_ms": 28.35,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "eventsource",
      "how": "page",
      "recovery_ms": 29.9,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "fetch-sse",
      "how": "page",
      "recovery_ms": 38.05,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    },
    {
      "transport": "ws",
      "how": "page",
      "recovery_ms": 31.45,
      "complete": true,
      "lost": 0,
      "duplicated": 0
    }
  ]
};
