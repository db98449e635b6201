/**
 * One benchmark stream from the client's side: opens it on the target's protocol, checks every
 * `${seq}@${tNs} ` token arrives exactly once and in order, records its latencies, and carries out
 * the job's action (cancel, drop-and-resume, hold).
 */
import { type Histogram, recordNs } from './hist.js';
import type { CancelTrace, Job } from './protocol.js';
import { benchPrompt } from './protocol.js';
import {
  anthropicStream,
  type Conn,
  type Handlers,
  relayRequest,
  relaySseCancel,
  relaySseResume,
  relaySseStream,
  relayWs,
  relayWsMux,
} from './wire-clients.js';

/** What a job's streams record into. */
export interface Collectors {
  readonly ttft: Histogram;
  /** TTFT from the request leaving on an open connection (WebSocket: the `start` frame). */
  readonly ttftSent: Histogram;
  readonly latency: Histogram;
  readonly jitter: Histogram;
  readonly replay: Histogram;
  /** hrtime origin, so token times fit a float. */
  readonly base: bigint;
  /** Bytes every stream of the job received (SSE body, WebSocket payloads). */
  bytes: number;
}

export interface StreamOutcome {
  readonly ok: boolean;
  readonly reason?: string;
  readonly tokens: number;
  readonly gaps: number;
  readonly duplicates: number;
  readonly cancel?: CancelTrace;
}

export interface StreamHooks {
  /** Called once when a `hold` stream has its first token; the returned promise ends the hold. */
  held(): Promise<void>;
  /** Aborted when the job times out. */
  readonly signal: AbortSignal;
}

const TOKEN = /(\d+)@(\d+) /g;

export function runStream(
  job: Job,
  index: number,
  c: Collectors,
  hooks: StreamHooks,
): Promise<StreamOutcome> {
  const { target, pace, action } = job;
  const prompt = benchPrompt(pace, job.tag, index);
  const maxTokens = pace.tokens + 16;
  const startNs = process.hrtime.bigint();

  return new Promise<StreamOutcome>((resolve) => {
    let lastSeq = 0;
    let tokens = 0;
    let gaps = 0;
    let duplicates = 0;
    let prevRecv = 0;
    let prevEmit = 0;
    let eventSeq = 0;
    let streamId: string | undefined;
    let conn: Conn | undefined;
    let generation = 0;
    let finished = false;
    let triggered = false;
    let replayFrom: bigint | undefined;
    let cancel: { atNs: bigint; seen: number } | undefined;
    let firstProblem: string | undefined;
    let sentNs: bigint | undefined;

    const onAbort = (): void => finish(false, 'timeout');
    hooks.signal.addEventListener('abort', onAbort, { once: true });

    function finish(ok: boolean, reason?: string): void {
      if (finished) return;
      finished = true;
      hooks.signal.removeEventListener('abort', onAbort);
      const endedNs = process.hrtime.bigint();
      conn?.drop();
      const good = ok && gaps === 0 && duplicates === 0;
      resolve({
        ok: good,
        ...(good ? {} : { reason: firstProblem ?? reason ?? 'failed' }),
        tokens,
        gaps,
        duplicates,
        ...(cancel === undefined
          ? {}
          : {
              cancel: {
                index,
                cancelAtNs: cancel.atNs.toString(),
                seenTokens: cancel.seen,
                endedAtNs: endedNs.toString(),
              },
            }),
      });
    }

    function onTokens(body: string, now: bigint): void {
      const recv = Number(now - c.base);
      TOKEN.lastIndex = 0;
      for (let m = TOKEN.exec(body); m !== null; m = TOKEN.exec(body)) {
        const seq = Number(m[1]);
        if (seq !== lastSeq + 1) {
          if (seq <= lastSeq) {
            duplicates++;
            firstProblem ??= `duplicate token ${seq} after ${lastSeq}`;
            continue;
          }
          gaps++;
          firstProblem ??= `gap: token ${seq} after ${lastSeq}`;
        }
        const emit = Number(BigInt(m[2]!) - c.base);
        recordNs(c.latency, recv - emit);
        if (lastSeq === 0) {
          recordNs(c.ttft, Number(now - startNs));
          if (sentNs !== undefined) recordNs(c.ttftSent, Number(now - sentNs));
        } else if (replayFrom === undefined)
          recordNs(c.jitter, Math.abs(recv - prevRecv - (emit - prevEmit)));
        lastSeq = seq;
        tokens++;
        prevRecv = recv;
        prevEmit = emit;
      }
    }

    function onTerminal(type: string, body: string): void {
      const complete = lastSeq === pace.tokens;
      if (action.kind === 'complete' || action.kind === 'resume') {
        if (type !== 'done') finish(false, `${type}: ${body.slice(0, 200)}`);
        else if (complete) finish(true);
        else finish(false, `done after ${lastSeq} of ${pace.tokens} tokens`);
      } else if (action.kind === 'cancel') {
        if (type === 'cancelled' || (type === 'done' && complete)) finish(true);
        else finish(false, `${type} after cancel: ${body.slice(0, 200)}`);
      } else {
        finish(false, `${type} while held: ${body.slice(0, 200)}`);
      }
    }

    /** The job's action, once the stream has `afterTokens` tokens (or its first, for hold). */
    function act(): void {
      switch (action.kind) {
        case 'complete':
          return;
        case 'hold':
          triggered = true;
          hooks.held().then(() => finish(true));
          return;
        case 'cancel': {
          if (lastSeq < action.afterTokens) return;
          triggered = true;
          cancel = { atNs: process.hrtime.bigint(), seen: lastSeq };
          if (action.how === 'disconnect') finish(true);
          else if (streamId === undefined) finish(false, 'no stream id to cancel');
          else if (action.how === 'ws-cancel') conn?.send?.({ type: 'cancel', stream_id: streamId });
          else
            void relaySseCancel(target, streamId).then((status) => {
              if (status !== 200) finish(false, `cancel route answered ${status}`);
            });
          return;
        }
        case 'resume': {
          if (lastSeq < action.afterTokens) return;
          triggered = true;
          if (streamId === undefined || target.protocol === 'relay-ws-mux') {
            finish(
              false,
              streamId === undefined ? 'no stream id to resume' : 'resume is not run on a shared socket',
            );
            return;
          }
          const id = streamId;
          generation++;
          conn?.drop();
          conn = undefined;
          setTimeout(() => {
            if (finished) return;
            replayFrom = process.hrtime.bigint();
            const gen = ++generation;
            const resume = { type: 'resume', stream_id: id, after: eventSeq };
            conn =
              target.protocol === 'relay-ws' || target.protocol === 'relay-ws-batch'
                ? relayWs(target, resume, handlers(gen), target.protocol === 'relay-ws-batch')
                : relaySseResume(target, id, eventSeq, handlers(gen));
          }, action.pauseMs);
          return;
        }
      }
    }

    function handlers(gen: number): Handlers {
      let replayed = false;
      return {
        opened(id) {
          if (gen === generation && id !== undefined) streamId ??= id;
        },
        sent(now) {
          if (gen === 1) sentNs ??= now;
        },
        bytes(n) {
          c.bytes += n;
        },
        event(type, seq, body, now) {
          if (gen !== generation || finished) return;
          if (seq !== undefined) {
            if (seq <= eventSeq && gen > 1 && !replayed) {
              duplicates++;
              firstProblem ??= `replay started at event ${seq}, already had ${eventSeq}`;
            }
            eventSeq = seq;
          }
          if (replayFrom !== undefined && !replayed) {
            replayed = true;
            recordNs(c.replay, Number(now - replayFrom));
          }
          if (type === 'text') {
            onTokens(body, now);
            if (!triggered) act();
          } else if (type === 'done' || type === 'error' || type === 'cancelled') {
            onTerminal(type, body);
          }
        },
        closed(error) {
          if (gen !== generation || finished) return;
          finish(false, error ?? `closed before a terminal event after ${lastSeq} tokens`);
        },
      };
    }

    const h = handlers(++generation);
    switch (target.protocol) {
      case 'anthropic':
        conn = anthropicStream(target, prompt, maxTokens, h);
        break;
      case 'relay-sse':
        conn = relaySseStream(target, relayRequest(prompt, maxTokens, job.onDisconnect), h);
        break;
      case 'relay-ws':
        conn = relayWs(
          target,
          {
            type: 'start',
            ref: String(index),
            request: relayRequest(prompt, maxTokens, job.onDisconnect),
          },
          h,
        );
        break;
      case 'relay-ws-batch':
        conn = relayWs(
          target,
          {
            type: 'start',
            ref: String(index),
            request: relayRequest(prompt, maxTokens, job.onDisconnect),
          },
          h,
          true,
        );
        break;
      case 'relay-ws-mux':
        conn = relayWsMux(
          target,
          job.tag,
          String(index),
          {
            type: 'start',
            ref: String(index),
            request: relayRequest(prompt, maxTokens, job.onDisconnect),
          },
          h,
        );
        break;
    }
  });
}
