/** The Markdown summary (`latest.md`, `latest-quick.md` …): the machine, the command, the targets, one table per scenario. */
import { basename } from 'node:path';
import { redisSection } from './report-redis.js';
import { syscallSection } from './report-strace.js';
import type { BenchResult } from './result.js';
import { renderBrowser } from './scenarios-browser.js';
import { idleSection } from './scenarios-idle.js';

/** A number for a table cell: 3 significant decimals for small values, fewer for large ones. */
export function num(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a < 10) return v.toFixed(3).replace(/\.?0+$/, '') || '0';
  if (a < 100) return v.toFixed(2);
  if (a < 10_000) return v.toFixed(1);
  return Math.round(v).toLocaleString('en-US');
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((h) => (h.startsWith(' ') ? '---:' : '---'))), ...rows.map(line)].join(
    '\n',
  );
}

/** Header cells starting with a space are right-aligned. */
const R = (s: string): string => ` ${s}`;

function paceText(p: { tokens: number; ttftMs: number; tps: number }): string {
  return `${p.tokens} tokens, first after ${p.ttftMs} ms, ${p.tps === 0 ? 'then no delay' : `then ${p.tps} tok/s`}`;
}

export function renderMarkdown(r: BenchResult, jsonPath: string, chartFile = 'latest.svg'): string {
  const out: string[] = [];
  const { latency, throughput, burst, cancel, resume, memory, bulk100, retained } = r.scenarios;
  const verdict = r.checks.ok
    ? `**Completeness: passed** — ${r.checks.streams.toLocaleString('en-US')} streams, every token exactly once and in order.`
    : `**Completeness: FAILED** — ${r.checks.failedStreams} of ${r.checks.streams} streams lost, duplicated or reordered tokens or did not finish${r.errors.length > 0 ? `; ${r.errors.length} scenario(s) failed to run` : ''}.`;
  out.push(
    `# relay benchmark (${r.mode})`,
    '',
    verdict,
    '',
    `- Command: \`${r.command}\`${r.revision === undefined ? '' : ` at commit \`${r.revision}\``}`,
    `- Machine: ${r.machine.cpuModel}, ${r.machine.cores} cores, ${r.machine.memoryGb} GB, ${r.machine.os}, Node ${r.machine.node}`,
    `- When: ${r.startedAt}, took ${(r.durationMs / 1000).toFixed(0)} s; raw numbers: \`${basename(jsonPath)}\``,
    `- Background load (CPU of processes other than the bench's, during measurements): median ${num(r.background.medianCores)} cores, max ${num(r.background.maxCores)} of ${r.machine.cores}${(r.background.maxCores ?? 0) > 0.25 ? ' — the machine was not quiet; treat latency tails with care' : ''}`,
    `- Method: simulator, relay, pipe and load client are separate processes on this machine; every target runs in the same run in rotated order, ${r.reps} repetition(s)${repsNote(r)}, medians reported. Latency = client receipt (hrtime) − upstream emission stamped in each token (same monotonic clock); "added" = target − direct in the same repetition. CPU = utime+stime from /proc of the process behind the target (clock tick ${r.machine.clockTicks}/s). Each stream opens its own connection (SSE response or WebSocket).`,
    `- Targets: \`direct\` = the client reads the simulator itself (the floor); \`pipe\` = bench/pipe.ts, a minimal byte-forwarding Node relay (the physical-limit reference), with Node's default flags; the relay runs with the flags it ships with (${relayFlags(r)}); \`sse\` = \`POST /v1/streams\`; \`ws\` = \`/v1/ws\`, one socket per stream; \`ws-mux\` = \`/v1/ws\`, every stream of a job on one socket (scenario 7 only)${r.targets
      .filter((t) => t.includes('='))
      .map((t) => `; \`${t.split('=')[0]}\` = ${t.slice(t.indexOf('=') + 1)}`)
      .join('')}.`,
    '',
  );
  for (const e of r.errors) {
    const [first, ...rest] = e.message.split('\n');
    out.push(`> **Scenario ${e.scenario} failed:** ${first}`, '');
    if (rest.length > 0) out.push('```', ...rest, '```', '');
  }

  out.push('## Targets (issues 6 and 18)', '');
  out.push(
    `Measured = the median of ${r.reps} repetition(s)${repsNote(r)}; the "(18)" rows give the spread beside it: min–max of the figure in each repetition (a ratio taken within each repetition). The verdict is on the median.`,
    '',
  );
  out.push(
    table(
      ['target', 'transport', 'measured', 'spread (min–max)', 'limit', 'met'],
      r.goals.map((g) => [
        g.goal,
        g.transport,
        g.measured,
        g.spread ?? '–',
        g.limit,
        g.verdict === 'missed'
          ? '**missed**'
          : g.verdict === 'measuring error'
            ? '**measuring error**'
            : g.verdict,
      ]),
    ),
    '',
  );

  if (latency) {
    out.push(
      `## 1. Latency (${paceText(latency.pace)})`,
      '',
      'Milliseconds. TTFT from the client starting the request, connection setup included (a fresh connection per stream); "… open conn." = added TTFT with connection setup left out on both sides (from the request leaving the connected socket; WebSocket: from the `start` frame on the open socket). Per-token latency = receipt − emission; jitter = |receipt gap − emission gap| between consecutive tokens. CPU: the relay (sse, ws) or pipe process, per 1000 tokens delivered.',
      '',
      table(
        [
          'C',
          'target',
          R('TTFT p50'),
          R('added TTFT p50'),
          R('… open conn.'),
          R('token p50'),
          R('token p99'),
          R('added p50'),
          R('added p90'),
          R('added p99'),
          R('added max'),
          R('jitter p50'),
          R('jitter p99'),
          R('CPU ms/1k tok'),
        ],
        latency.rows.map((x) => [
          String(x.c),
          x.target,
          num(x.ttftP50),
          x.target === 'direct' ? '–' : num(x.addedTtftP50),
          x.target === 'direct' ? '–' : num(x.addedTtftSentP50),
          num(x.tokenP50),
          num(x.tokenP99),
          x.target === 'direct' ? '–' : num(x.addedP50),
          x.target === 'direct' ? '–' : num(x.addedP90),
          x.target === 'direct' ? '–' : num(x.addedP99),
          x.target === 'direct' ? '–' : num(x.addedMax),
          num(x.jitterP50),
          num(x.jitterP99),
          num(x.cpuPer1k),
        ]),
      ),
      '',
    );
  }
  if (throughput) {
    out.push(
      `## 2. Throughput (${throughput.streams} concurrent streams × ${paceText(throughput.pace)}${throughput.reps === undefined ? '' : `, ${throughput.reps} repetition(s)`})`,
      '',
      table(
        ['target', R('tokens/s'), R('target CPU ms/1k tok'), R('simulator CPU ms/1k'), R('client CPU ms/1k')],
        throughput.rows.map((x) => [
          x.target,
          num(x.tokensPerSec),
          num(x.cpuPer1k),
          num(x.simCpuPer1k),
          num(x.clientCpuPer1k),
        ]),
      ),
      '',
    );
  }
  if (burst) {
    out.push(
      `## 3. Start burst (${burst.streams} streams at once, ${burst.bursts} burst(s) per repetition, ${paceText(burst.pace)})`,
      '',
      'TTFT from each request leaving the client; added = TTFT p50 − direct\'s in the same repetition; "added, request on its connection" = the same from the request on a connection already made (WebSocket: the `start` frame after the handshake; HTTP: its TCP connection made), so for WebSocket without the handshake\'s round trip; spread = slowest − fastest first token within a burst. CPU per stream = the target process over the bursts ÷ streams (each stream is a whole short request: start, one token, end).',
      '',
      table(
        [
          'target',
          R('TTFT p50'),
          R('added TTFT p50'),
          R('added, request on its connection'),
          R('TTFT p99'),
          R('TTFT max'),
          R('spread'),
          R('CPU ms/stream'),
        ],
        burst.rows.map((x) => [
          x.target,
          num(x.ttftP50),
          x.target === 'direct' ? '–' : num(x.addedTtftP50),
          x.target === 'direct' ? '–' : num(x.addedTtftSentP50 ?? null),
          num(x.ttftP99),
          num(x.ttftMax),
          num(x.spreadMs),
          num(x.cpuPerStreamMs),
        ]),
      ),
      '',
    );
  }
  if (cancel) {
    out.push(
      `## 4. Cancel (${cancel.streams} streams × ${paceText(cancel.pace)}, cancelled after ${cancel.afterTokens} tokens)`,
      '',
      "Milliseconds from the client's cancel (hrtime before sending it, or before closing its socket) to the simulator seeing its socket close (its own hrtime record). Tokens after = tokens the upstream wrote beyond the last one the client had seen. `direct`/`pipe` rows: the client just closes its connection (the floor).",
      '',
      table(
        [
          'how',
          R('p50'),
          R('p90'),
          R('p99'),
          R('max'),
          R('tokens after, mean'),
          R('tokens after, max'),
          R('upstream never closed'),
        ],
        cancel.rows.map((x) => [
          x.observed === false
            ? `${x.variant} (its upstream is not the bench's simulator: not observed)`
            : x.variant,
          num(x.p50),
          num(x.p90),
          num(x.p99),
          num(x.max),
          num(x.tokensAfterMean),
          num(x.tokensAfterMax),
          String(x.notClosed),
        ]),
      ),
      '',
    );
  }
  if (resume) {
    out.push(
      `## 5. Resume (${resume.streams} streams × ${paceText(resume.pace)}; dropped after ${resume.afterTokens} tokens, back ${resume.pauseMs} ms later)`,
      '',
      'Time to first replayed event: from starting the new connection (SSE `GET /v1/streams/:id/events` with `Last-Event-ID`; WebSocket: connect + `resume`) to its first event.',
      '',
      table(
        [
          'target',
          R('replay p50'),
          R('replay p99'),
          R('replay max'),
          R('gaps'),
          R('duplicates'),
          R('complete streams'),
        ],
        resume.rows.map((x) => [
          x.target,
          num(x.replayP50),
          num(x.replayP99),
          num(x.replayMax),
          String(x.gaps),
          String(x.duplicates),
          `${x.ok}/${x.streams}`,
        ]),
      ),
      '',
    );
  }
  if (memory) {
    out.push(
      `## 6. Memory (streams held open, ${paceText(memory.pace)})`,
      '',
      "Per open stream = (after − before) ÷ streams open, in a fresh process, after a forced GC (`--expose-gc` through the bench's preload, nothing added to the relay). RSS from /proc/<pid>/status VmRSS. Young gen = V8's young generation, committed MB before the first level → at this one: V8 grows it under load and keeps it after a GC, so its growth is in the RSS difference without being any stream's (a process whose warm-up already grew it pays nothing for it here). Marginal = RSS added per stream from the previous level to this one in the same process.",
      '',
      table(
        [
          'target',
          R('streams open'),
          R('RSS KB/stream'),
          R('heap KB/stream'),
          R('RSS total MB'),
          R('young gen MB'),
          R('marginal RSS KB/stream'),
        ],
        memory.rows.map((x) => [
          x.target,
          String(x.level),
          num(x.rssPerStreamKb),
          num(x.heapPerStreamKb),
          num(x.rssMb),
          x.youngMb === undefined || x.youngMb.before === null
            ? '–'
            : `${num(x.youngMb.before)} → ${num(x.youngMb.after)}`,
          x.marginalRssPerStreamKb === undefined ? '–' : num(x.marginalRssPerStreamKb),
        ]),
      ),
      '',
    );
  }
  if (bulk100) {
    out.push(
      `## 7. Bulk at C = ${bulk100.streams} (${bulk100.streams} concurrent streams × ${paceText(bulk100.pace)})`,
      '',
      '`ws` opens one WebSocket per stream (as most clients do); `ws-mux` runs every stream of the job on one shared WebSocket (as the demo page and `relay chat` do).',
      '',
      table(
        ['target', R('tokens/s'), R('target CPU ms/1k tok'), R('simulator CPU ms/1k'), R('client CPU ms/1k')],
        bulk100.rows.map((x) => [
          x.target,
          num(x.tokensPerSec),
          num(x.cpuPer1k),
          num(x.simCpuPer1k),
          num(x.clientCpuPer1k),
        ]),
      ),
      '',
    );
  }
  if (retained) {
    out.push(
      `## 8. Retained finished streams (${retained.streams} streams × ${paceText(retained.pace)}, kept for resume)`,
      '',
      "Per retained stream = (after − before) ÷ streams, in a fresh relay, each side after a forced GC (`--expose-gc` through the bench's preload). Bytes = what the client received per stream on that transport; heap ÷ SSE bytes uses the sse runs' bytes (the events as serialised SSE).",
      '',
      table(
        [
          'target',
          R('streams'),
          R('bytes/stream'),
          R('heap KB/stream'),
          R('RSS KB/stream'),
          R('heap ÷ SSE bytes'),
        ],
        retained.rows.map((x) => [
          x.target,
          String(x.streams),
          num(x.bytesPerStream),
          num(x.heapPerStreamKb),
          num(x.rssPerStreamKb),
          x.heapPerSseByte === null ? '–' : `${num(x.heapPerSseByte)}×`,
        ]),
      ),
      '',
    );
  }
  if (r.scenarios.redis) out.push(...redisSection(r.scenarios.redis));
  if (r.scenarios.browser) out.push(renderBrowser(r.scenarios.browser));
  if (r.scenarios.idle) out.push(...idleSection(r.scenarios.idle));
  if (r.syscalls) out.push(...syscallSection(r.syscalls, r.reps));
  if (r.profile) {
    out.push(
      `## Where relay CPU goes (${r.profile.scenario} scenario under \`--cpu-prof\`)`,
      '',
      `${r.profile.totalMs} ms of busy (non-idle) samples, process start-up included; shares are of that time.`,
      '',
      table(
        ['function', 'where', R('self ms'), R('%')],
        r.profile.top.slice(0, 15).map((t) => [`\`${t.fn}\``, t.where, num(t.selfMs), num(t.pct)]),
      ),
      '',
      table(
        ['module', R('self ms'), R('%')],
        r.profile.byModule.slice(0, 12).map((m) => [m.module, num(m.selfMs), num(m.pct)]),
      ),
      '',
    );
  }
  if (r.checks.failed.length > 0) {
    out.push('## Failed streams', '');
    out.push(
      table(
        ['scenario', 'target', 'rep', 'what', R('failed'), 'first reason'],
        r.checks.failed.map((c) => [
          c.scenario,
          c.target,
          String(c.rep + 1),
          c.label,
          `${c.streams - c.ok}/${c.streams}`,
          c.failures[0]?.reason ?? '',
        ]),
      ),
      '',
    );
  }
  out.push(`![latency and CPU chart](${chartFile})`, '');
  return out.join('\n');
}

/** The relay's Node flags as the method line names them (files before they were recorded: none). */
function relayFlags(r: BenchResult): string {
  const flags = r.relayNodeFlags ?? [];
  return flags.length === 0 ? 'none' : flags.map((f) => `\`${f}\``).join(' ');
}

/** Where bulk at C = 20 took more repetitions than the rest (options.ts: `repsPerRep`). */
function repsNote(r: BenchResult): string {
  const reps = r.scenarios.throughput?.reps;
  return reps === undefined || reps === r.reps
    ? ''
    : ` (bulk at C = ${r.scenarios.throughput?.streams}: ${reps})`;
}
