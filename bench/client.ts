/**
 * A load-client process, forked by the orchestrator with an IPC channel. It runs the jobs it is
 * sent (bench/protocol.ts) and answers each with histograms and completeness counts. It exits
 * when the orchestrator goes away, so it can never outlive a run.
 */
import { setMaxListeners } from 'node:events';
import { encode, newHistogram } from './hist.js';
import type { CancelTrace, Failure, FromClient, Job, JobResult, ToClient } from './protocol.js';
import { type Collectors, runStream, type StreamOutcome } from './stream-run.js';

const releases = new Map<number, () => void>();

function send(msg: FromClient): void {
  process.send?.(msg);
}

async function runJob(job: Job): Promise<JobResult> {
  const base = process.hrtime.bigint();
  const c: Collectors = {
    ttft: newHistogram(4),
    ttftSent: newHistogram(4),
    latency: newHistogram(),
    jitter: newHistogram(),
    replay: newHistogram(),
    base,
    bytes: 0,
  };
  const timeout = new AbortController();
  // Every stream of the job listens for the timeout.
  setMaxListeners(0, timeout.signal);
  const timer = setTimeout(() => timeout.abort(), job.timeoutMs);
  const cpu0 = process.cpuUsage();

  // `hold`: every stream waits on one release; the orchestrator hears once all are held.
  let heldCount = 0;
  let settled = 0;
  let holdingSent = false;
  const released = new Promise<void>((resolve) => releases.set(job.jobId, resolve));
  const maybeHolding = (): void => {
    if (!holdingSent && job.action.kind === 'hold' && heldCount + settled >= job.streams) {
      holdingSent = true;
      clearTimeout(timer);
      send({ type: 'holding', jobId: job.jobId, open: heldCount });
    }
  };
  const hooks = {
    signal: timeout.signal,
    held: (): Promise<void> => {
      heldCount++;
      maybeHolding();
      return released;
    },
  };

  const outcomes: StreamOutcome[] = [];
  let next = 0;
  const startedNs = process.hrtime.bigint();
  const slot = async (s: number): Promise<void> => {
    if (job.startSpreadMs > 0 && s > 0) {
      await new Promise((r) => setTimeout(r, (job.startSpreadMs * s) / job.concurrency));
    }
    for (let i = next++; i < job.streams && !timeout.signal.aborted; i = next++) {
      const outcome = await runStream(job, i, c, hooks);
      // A held stream only ends after the release, so one ending before it has failed.
      if (job.action.kind === 'hold' && !holdingSent) {
        settled++;
        maybeHolding();
      }
      outcomes.push(outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency, job.streams) }, (_, s) => slot(s)));
  const endedNs = process.hrtime.bigint();
  clearTimeout(timer);
  releases.delete(job.jobId);
  const cpu = process.cpuUsage(cpu0);

  const failures: Failure[] = [];
  const cancels: CancelTrace[] = [];
  let ok = 0;
  let tokens = 0;
  let gaps = 0;
  let duplicates = 0;
  outcomes.forEach((o, i) => {
    if (o.ok) ok++;
    else if (failures.length < 50)
      failures.push({ index: o.cancel?.index ?? i, reason: o.reason ?? 'failed' });
    tokens += o.tokens;
    gaps += o.gaps;
    duplicates += o.duplicates;
    if (o.cancel !== undefined) cancels.push(o.cancel);
  });
  // Streams never started (timeout before their turn) are failures too.
  const failed = job.streams - ok;
  for (let i = outcomes.length; i < job.streams && failures.length < 50; i++) {
    failures.push({ index: i, reason: 'never started (job timed out)' });
  }
  return {
    type: 'result',
    jobId: job.jobId,
    startedNs: startedNs.toString(),
    endedNs: endedNs.toString(),
    streams: job.streams,
    ok,
    failures,
    failed,
    tokens,
    bytes: c.bytes,
    gaps,
    duplicates,
    ttftUs: encode(c.ttft),
    ttftSentUs: encode(c.ttftSent),
    tokenLatencyUs: encode(c.latency),
    jitterUs: encode(c.jitter),
    replayUs: encode(c.replay),
    cancels,
    clientCpuUs: cpu.user + cpu.system,
  };
}

process.on('message', (msg: ToClient) => {
  if (msg.type === 'release') {
    releases.get(msg.jobId)?.();
    return;
  }
  runJob(msg).then(send, (err: unknown) => {
    process.stderr.write(`bench client: job ${msg.jobId} crashed: ${String(err)}\n`);
    process.exit(1);
  });
});
// The orchestrator is gone (finished, crashed or killed): leave with it.
process.on('disconnect', () => process.exit(0));
