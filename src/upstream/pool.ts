/**
 * The upstream pool: which upstream the next attempt goes to, and how healthy each one is. Pure
 * bookkeeping with an injectable clock (no timers, no I/O): the retry loop (anthropic.ts) and the
 * passthrough ask it for an upstream per attempt and report how the attempt went.
 *
 * Routing, per attempt: among the upstreams serving the model, not disabled and below their
 * `max_concurrent`, those the stream has not tried yet come first; a conversation's previous
 * upstream is kept while it is healthy (prompt caches live per upstream); otherwise the
 * highest-priority tier (lowest number) with a healthy upstream, by weight within the tier. Weights
 * use smooth weighted round-robin (nginx's), so shares are exact over any window rather than
 * random, and a tier's upstreams interleave instead of bunching.
 *
 * Health: 3 transient failures in a row, or at least half of 4+ attempts in the last minute, cool
 * an upstream for `cooldownMs` (at least the failure's retry-after). When the cooldown ends it is
 * on probation: its next failure cools it again at once, its next success clears the record.
 * 401/403 disable it until the configuration changes. The only healthy upstream is never cooled,
 * and the last one not disabled is never disabled: a pool must keep somewhere to send streams.
 */

import { RelayError } from '../core/errors.js';
import type { UpstreamSpec } from './pool-config.js';
import type { AttemptFailure } from './retry-policy.js';

export type UpstreamState = 'healthy' | 'cooling' | 'disabled';

/** What the pool needs of an upstream (its URL and key stay with whoever sends the requests). */
export type PoolMember = Pick<UpstreamSpec, 'name' | 'priority' | 'weight' | 'models' | 'maxConcurrent'>;

/** One upstream's state, for /ready and /metrics. Names only, never URLs or keys. */
export interface UpstreamStatus {
  readonly name: string;
  readonly state: UpstreamState;
  /** Why it is cooling or disabled. */
  readonly reason?: string;
  /** Milliseconds of cooldown left. */
  readonly coolingMs?: number;
  readonly priority: number;
  readonly weight: number;
  readonly inFlight: number;
  /** Attempts begun since start. */
  readonly attempts: number;
  /** Attempts that failed on the upstream's side (transient failures, 401/403) since start. */
  readonly failures: number;
  /** Moving average of the time to the first content, ms (absent before the first success). */
  readonly latencyMs?: number;
}

/** How an attempt went, as far as the upstream's health is concerned. */
export type AttemptReport =
  | { readonly kind: 'ok'; readonly latencyMs?: number }
  | { readonly kind: 'failed'; readonly failure: AttemptFailure }
  /** Aborted before content, or refused for the request's own fault (400): says nothing of health. */
  | { readonly kind: 'neutral' };

/** Something an operator should hear about: names only, never a URL or key. */
export interface PoolChange {
  readonly upstream: string;
  /** Its state after the change. */
  readonly state: UpstreamState;
  readonly reason: string;
  /** The log line. */
  readonly message: string;
}

export type AttemptListener = (name: string, report: AttemptReport) => void;

export type Choice =
  | { readonly ok: true; readonly name: string }
  | { readonly ok: false; readonly failure: AttemptFailure };

/** An attempt in flight on one upstream; `end` exactly once (later calls are ignored). */
export interface Lease {
  readonly name: string;
  end(report: AttemptReport): void;
}

export interface PoolOptions {
  /** How long a failing upstream rests; at least its retry-after. */
  readonly cooldownMs: number;
  /** Conversations remembered for stickiness (oldest forgotten first). Default 10 000. */
  readonly affinityLimit?: number;
  /** Clock in ms, for tests. Default performance.now. */
  readonly now?: () => number;
  /** Called when an upstream is cooled, recovers or is disabled, or its key is refused (for the log). */
  readonly onChange?: (change: PoolChange) => void;
}

const WINDOW_MS = 60_000;
const WINDOW_MAX = 256;
const TRIP_IN_A_ROW = 3;
const TRIP_MIN_ATTEMPTS = 4;
const LATENCY_SMOOTHING = 0.2;

interface Member {
  readonly spec: PoolMember;
  state: UpstreamState;
  reason: string | undefined;
  coolUntil: number;
  probation: boolean;
  inRow: number;
  /** Recent attempt endings (time, failed?), oldest first. */
  window: { at: number; failed: boolean }[];
  /** Smooth weighted round-robin's running weight. */
  current: number;
  inFlight: number;
  attempts: number;
  failures: number;
  latencyMs: number | undefined;
}

export class UpstreamPool {
  private readonly members: Member[];
  private readonly byName = new Map<string, Member>();
  private readonly affinity = new Map<string, string>();
  private readonly listeners = new Set<AttemptListener>();
  private readonly options: PoolOptions;
  private readonly now: () => number;

  constructor(members: readonly PoolMember[], options: PoolOptions) {
    if (members.length === 0) throw new RangeError('an upstream pool needs at least one upstream');
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.members = members.map((spec) => ({
      spec,
      state: 'healthy',
      reason: undefined,
      coolUntil: 0,
      probation: false,
      inRow: 0,
      window: [],
      current: 0,
      inFlight: 0,
      attempts: 0,
      failures: 0,
      latencyMs: undefined,
    }));
    for (const m of this.members) this.byName.set(m.spec.name, m);
  }

  /** The upstreams' names, in configuration order. */
  get names(): string[] {
    return this.members.map((m) => m.spec.name);
  }

  /**
   * Picks the upstream for the next attempt of a request for `model`. `tried` = upstreams this
   * stream already tried (others come first); `affinity` = a conversation to keep on its upstream.
   */
  choose(model: string | undefined, opts: { tried?: ReadonlySet<string>; affinity?: string } = {}): Choice {
    this.refresh();
    const serving = this.members.filter((m) => serves(m.spec, model));
    if (serving.length === 0) {
      return refuse('invalid_request', `no configured upstream serves the model "${model ?? ''}"`, false);
    }
    const usable = serving.filter((m) => m.state !== 'disabled');
    if (usable.length === 0) {
      return refuse(
        'upstream_error',
        `every upstream serving "${model ?? ''}" is disabled (it refused the relay's key: fix the key and restart)`,
        false,
      );
    }
    const open = usable.filter(
      (m) => m.spec.maxConcurrent === undefined || m.inFlight < m.spec.maxConcurrent,
    );
    if (open.length === 0) {
      return refuse(
        'upstream_overloaded',
        `every upstream serving "${model ?? ''}" is at its max_concurrent`,
        true,
      );
    }
    const tried = opts.tried;
    const fresh = tried === undefined ? open : open.filter((m) => !tried.has(m.spec.name));
    const healthyFresh = fresh.filter((m) => m.state === 'healthy');
    if (opts.affinity !== undefined) {
      const sticky = this.byName.get(this.affinity.get(opts.affinity) ?? '');
      if (sticky !== undefined && healthyFresh.includes(sticky)) return { ok: true, name: sticky.spec.name };
    }
    let candidates = healthyFresh;
    if (candidates.length === 0) candidates = open.filter((m) => m.state === 'healthy');
    if (candidates.length === 0) {
      // Only cooling upstreams left (the rest disabled, full or not serving the model): the one
      // whose rest ends first, rather than no answer at all.
      const cooling = fresh.length > 0 ? fresh : open;
      const soonest = cooling.reduce((a, b) => (b.coolUntil < a.coolUntil ? b : a));
      return { ok: true, name: soonest.spec.name };
    }
    const tier = Math.min(...candidates.map((m) => m.spec.priority));
    return { ok: true, name: pickByWeight(candidates.filter((m) => m.spec.priority === tier)).spec.name };
  }

  /** Starts an attempt on `name` (counted against its max_concurrent until it ends). */
  begin(name: string): Lease {
    const member = this.byName.get(name);
    if (member === undefined) throw new RangeError(`unknown upstream "${name}"`);
    member.inFlight++;
    member.attempts++;
    let ended = false;
    return {
      name,
      end: (report) => {
        if (ended) return;
        ended = true;
        member.inFlight--;
        this.record(member, report);
        for (const listener of this.listeners) listener(name, report);
      },
    };
  }

  /** Calls `listener` when an attempt ends (for metrics); returns the unsubscribe. */
  observe(listener: AttemptListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Keeps `affinity` (a conversation) on `name` for its next turns. */
  remember(affinity: string, name: string): void {
    this.affinity.delete(affinity);
    this.affinity.set(affinity, name);
    const limit = this.options.affinityLimit ?? 10_000;
    if (this.affinity.size > limit) {
      const oldest = this.affinity.keys().next();
      if (oldest.done !== true) this.affinity.delete(oldest.value);
    }
  }

  status(): UpstreamStatus[] {
    this.refresh();
    const now = this.now();
    return this.members.map((m) => ({
      name: m.spec.name,
      state: m.state,
      ...(m.reason === undefined || m.state === 'healthy' ? {} : { reason: m.reason }),
      ...(m.state === 'cooling' ? { coolingMs: Math.max(0, Math.ceil(m.coolUntil - now)) } : {}),
      priority: m.spec.priority,
      weight: m.spec.weight,
      inFlight: m.inFlight,
      attempts: m.attempts,
      failures: m.failures,
      ...(m.latencyMs === undefined ? {} : { latencyMs: Math.round(m.latencyMs) }),
    }));
  }

  /**
   * For /ready: ready while some upstream is not disabled (a cooling one comes back by itself);
   * the detail names each upstream and its state.
   */
  readiness(): { ok: boolean; detail: string } {
    const status = this.status();
    const detail = status
      .map((s) => `${s.name} ${s.state}${s.coolingMs === undefined ? '' : ` (${s.coolingMs} ms left)`}`)
      .join(', ');
    return { ok: status.some((s) => s.state !== 'disabled'), detail };
  }

  private record(m: Member, report: AttemptReport): void {
    if (report.kind === 'neutral') return;
    const now = this.now();
    if (report.kind === 'ok') {
      m.inRow = 0;
      m.probation = false;
      this.note(m, now, false);
      if (report.latencyMs !== undefined) {
        m.latencyMs =
          m.latencyMs === undefined
            ? report.latencyMs
            : m.latencyMs + LATENCY_SMOOTHING * (report.latencyMs - m.latencyMs);
      }
      return;
    }
    const failure = report.failure;
    if (disables(failure)) {
      m.failures++;
      if (m.state === 'disabled') return;
      const reason = `the upstream refused the relay's key (${failure.reason})`;
      // The last upstream standing stays: without it every stream would fail, with it only
      // those it refuses do (with one key, a 401 reaches the client as it always did).
      if (!this.members.some((o) => o !== m && o.state !== 'disabled')) {
        this.tell(m, reason, 'upstream refused the relay key; kept, as it is the last one not disabled');
        return;
      }
      m.state = 'disabled';
      m.reason = reason;
      this.tell(m, reason, 'upstream disabled until the configuration changes');
      return;
    }
    // Only the upstream's own trouble counts: a request it rightly refused says nothing of it.
    if (!failure.retry) return;
    m.failures++;
    m.inRow++;
    this.note(m, now, true);
    if (m.state !== 'healthy') return;
    const recent = m.window.length;
    const failed = m.window.reduce((n, e) => n + (e.failed ? 1 : 0), 0);
    const trips =
      m.probation || m.inRow >= TRIP_IN_A_ROW || (recent >= TRIP_MIN_ATTEMPTS && failed * 2 >= recent);
    if (!trips || !this.members.some((o) => o !== m && o.state === 'healthy')) return;
    const restMs = Math.max(this.options.cooldownMs, failure.error.retryAfterMs ?? 0);
    m.state = 'cooling';
    m.coolUntil = now + restMs;
    m.reason = `${m.probation ? 'failed again after a cooldown' : `${failed} of its last ${recent} attempts failed`}, last ${failure.reason}`;
    m.probation = true;
    m.inRow = 0;
    m.window = [];
    this.tell(m, `${m.reason}; resting ${restMs} ms`, 'upstream cooling down');
  }

  private note(m: Member, now: number, failed: boolean): void {
    m.window.push({ at: now, failed });
    let drop = 0;
    while (
      drop < m.window.length &&
      (m.window[drop]!.at <= now - WINDOW_MS || m.window.length - drop > WINDOW_MAX)
    )
      drop++;
    if (drop > 0) m.window.splice(0, drop);
  }

  private tell(m: Member, reason: string, message: string): void {
    this.options.onChange?.({ upstream: m.spec.name, state: m.state, reason, message });
  }

  /** Cooldowns that are over end here (lazily: the pool keeps no timers). */
  private refresh(): void {
    const now = this.now();
    for (const m of this.members) {
      if (m.state === 'cooling' && m.coolUntil <= now) {
        m.state = 'healthy';
        this.tell(m, 'cooldown over, on probation', 'upstream back in rotation');
      }
    }
  }
}

/** 401/403 (and 402, billing) mean this upstream will refuse every request with this key. */
export function disables(failure: AttemptFailure): boolean {
  return failure.error.code === 'unauthorized' || failure.error.code === 'forbidden';
}

function serves(spec: PoolMember, model: string | undefined): boolean {
  return spec.models === undefined || model === undefined || spec.models.includes(model);
}

/** Smooth weighted round-robin: exact shares, interleaved. */
function pickByWeight(candidates: Member[]): Member {
  let total = 0;
  let best = candidates[0]!;
  for (const m of candidates) {
    m.current += m.spec.weight;
    total += m.spec.weight;
    if (m.current > best.current) best = m;
  }
  best.current -= total;
  return best;
}

function refuse(
  code: 'invalid_request' | 'upstream_error' | 'upstream_overloaded',
  message: string,
  retry: boolean,
): Choice {
  const error = new RelayError(code, message, { retryable: retry });
  return { ok: false, failure: { error, retry, reason: `${code} (no upstream available)` } };
}
