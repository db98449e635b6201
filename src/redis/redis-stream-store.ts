/**
 * The StreamStore for several instances on one Redis.
 *
 * - The generating instance appends to its own log (its readers read it directly) and a writer
 *   ships each event-loop turn's new entries to Redis in one script call: a Redis Stream per log
 *   (entry id = seq, MAXLEN = the log bound), a small meta hash (owner, model, instance, last seq,
 *   usage so far, terminal), and a PUBLISH of the last seq with the batch's events.
 * - Every other instance follows a stream it serves once, into a local replica log that all its
 *   cursors read (one follower per stream and instance, not one per reader); a batch that follows
 *   on is appended from the PUBLISH itself, the log is read back (XRANGE) only to catch up.
 * - Cancels and presence changes go to the generating instance over its control channel; presence
 *   is shared through a readers hash, so a grace stream stays alive while any instance has a reader.
 * - Each instance holds a lease (a key with a TTL it refreshes); a survivor ends the streams of an
 *   instance whose lease ran out with one `instance_lost` error.
 * - Redis away: new streams get `store_unavailable` at once; after `storeDownMs` every running
 *   stream ends with one terminal event for its readers here; the writers catch up on reconnect.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { RelayError } from '../core/errors.js';
import type { CancelReason, RelayEventBody, Usage } from '../core/events.js';
import type { AssembledMessage } from '../core/message.js';
import type { StreamGeneration } from '../core/stream-generation.js';
import { LogHandle, type ReaderExit, type StreamHandle, type StreamMeta } from '../core/stream-handle.js';
import { StreamLog } from '../core/stream-log.js';
import type { StreamStore } from '../core/stream-store.js';
import type { StreamsConfig } from '../core/streams-config.js';
import type { RedisConnection } from './connection.js';
import { instanceKeys, instancesKey, isInstanceId, isStreamId, type StreamKeys, streamKeys } from './keys.js';
import { APPEND, END_IF_RUNNING } from './scripts.js';

export interface RedisStreamStoreOptions {
  readonly connection: RedisConnection;
  readonly config: StreamsConfig;
  /** Key prefix; default `relay:`. */
  readonly prefix?: string;
  /** How long an instance's lease lasts without a heartbeat (default 5000 ms). */
  readonly leaseMs?: number;
  /** Heartbeat, presence refresh, health check and reaper period (default 1000 ms). */
  readonly heartbeatMs?: number;
  /** Redis away this long ends every running stream here with `store_unavailable` (default 3000 ms). */
  readonly storeDownMs?: number;
  /** How long a cancel waits to see the terminal event from the generating instance (default 5000 ms). */
  readonly cancelWaitMs?: number;
  /** Told about Redis trouble and bad replies (for the log). */
  readonly onError?: (err: unknown, context: string) => void;
}

/** One stream this instance serves: generated here (with a writer) or followed (a replica). */
interface Local {
  readonly id: string;
  readonly keys: StreamKeys;
  readonly meta: StreamMeta & { readonly instance: string };
  readonly log: StreamLog;
  readonly handle: LogHandle;
  readonly generation: StreamGeneration | undefined;
  writer: Writer | undefined;
  /** Follower state (replicas only). */
  subscribed: boolean;
  fetching: boolean;
  refetch: boolean;
  /** Cut off from Redis or fed something unparsable: ended locally; later opens start afresh. */
  broken: boolean;
  readers: number;
  /** Readers on other instances (generating instance only), from the readers hash. */
  remoteReaders: number;
  expiry: NodeJS.Timeout | undefined;
}

/** Ships a generation's log to Redis, one script call per event-loop turn. */
interface Writer {
  /** Highest seq Redis confirmed. */
  confirmed: number;
  /** The assembled reply is in the meta hash (written once, before the terminal event). */
  messageStored: boolean;
  inFlight: boolean;
  again: boolean;
  immediate: NodeJS.Immediate | undefined;
  unsubscribe: () => void;
}

const metaSchema = z.object({
  owner: z.string(),
  model: z.string(),
  created_at: z.string(),
  instance: z.string().refine(isInstanceId),
  last_seq: z.coerce.number().int().min(0),
  usage: z.string().optional(),
  terminal: z.string().optional(),
});

const usageSchema = z.looseObject({
  input_tokens: z.number(),
  output_tokens: z.number(),
  estimated: z.boolean(),
});

const messageSchema = z.looseObject({
  type: z.literal('message'),
  role: z.literal('assistant'),
  model: z.string(),
  content: z.array(z.looseObject({ type: z.string() })),
  stop_reason: z.string().nullable(),
  stop_sequence: z.string().nullable(),
  usage: usageSchema,
});

const controlSchema = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('cancel'),
    id: z.string().refine(isStreamId),
    reason: z.enum(['client', 'disconnect', 'shutdown', 'timeout']),
  }),
  z.object({
    op: z.literal('presence'),
    id: z.string().refine(isStreamId),
    exit: z.enum(['terminal', 'cut', 'detached']).optional(),
  }),
]);

const eventSchema = z.looseObject({ type: z.string(), seq: z.number().int().min(1) });

export class RedisStreamStore implements StreamStore {
  /** This instance's id: names its lease, its control channel and its presence entries. */
  readonly instance = randomBytes(8).toString('hex');
  private readonly redis: RedisConnection;
  private readonly config: StreamsConfig;
  private readonly prefix: string;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly storeDownMs: number;
  private readonly cancelWaitMs: number;
  private readonly onError: (err: unknown, context: string) => void;
  private readonly locals = new Map<string, Local>();
  private readonly opening = new Map<string, Promise<Local | undefined>>();
  private heartbeat: NodeJS.Timeout | undefined;
  private stopReady: (() => void) | undefined;
  /** When Redis was first seen away (undefined while it answers). */
  private downSince: number | undefined;
  private lastPingOk = false;
  private closed = false;

  constructor(options: RedisStreamStoreOptions) {
    this.redis = options.connection;
    this.config = options.config;
    this.prefix = options.prefix ?? 'relay:';
    this.leaseMs = options.leaseMs ?? 5000;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.storeDownMs = options.storeDownMs ?? 3000;
    this.cancelWaitMs = options.cancelWaitMs ?? 5000;
    this.onError = options.onError ?? (() => {});
  }

  /** Registers the lease and the control channel, and starts the heartbeat. Redis may be down. */
  async start(): Promise<void> {
    this.stopReady = this.redis.onReady(() => {
      // Redis was down at start: the control channel was never subscribed (node-redis only renews
      // subscriptions it once had).
      if (!this.controlSubscribed) void this.subscribeControl();
      void this.resubscribe();
      void this.tick();
    });
    await this.subscribeControl();
    await this.tick();
    this.heartbeat = setInterval(() => void this.tick(), this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Whether new streams can be taken: Redis answered the last heartbeat. */
  get available(): boolean {
    return this.redis.isReady && this.lastPingOk;
  }

  get size(): number {
    return this.locals.size;
  }

  async add(generation: StreamGeneration): Promise<StreamHandle> {
    if (!this.available) throw storeUnavailable('Redis did not answer the last heartbeat');
    const keys = streamKeys(this.prefix, generation.id);
    const meta = {
      id: generation.id,
      owner: generation.owner,
      model: generation.model,
      createdAt: generation.createdAt.toISOString(),
      instance: this.instance,
    };
    const ttl = String(this.runningTtlMs());
    await Promise.all([
      this.redis.call([
        'HSET',
        keys.meta,
        'owner',
        meta.owner,
        'model',
        meta.model,
        'created_at',
        meta.createdAt,
        'instance',
        this.instance,
        'last_seq',
        '0',
      ]),
      this.redis.call(['PEXPIRE', keys.meta, ttl]),
      this.redis.call(['SADD', instanceKeys(this.prefix, this.instance).streams, generation.id]),
    ]);
    const local = this.makeLocal(keys, meta, generation.log, generation);
    local.writer = this.startWriter(local, generation);
    generation.onEnded(() => this.onEnded(local));
    return local.handle;
  }

  async open(id: string): Promise<StreamHandle | undefined> {
    // Client ids never reach a key unchecked: a wrong shape is simply unknown.
    if (!isStreamId(id)) return undefined;
    const held = this.locals.get(id);
    if (held !== undefined && !held.broken) return held.handle;
    let pending = this.opening.get(id);
    if (pending === undefined) {
      pending = this.follow(id).finally(() => this.opening.delete(id));
      this.opening.set(id, pending);
    }
    return (await pending)?.handle;
  }

  evictIdle(): boolean {
    for (const local of this.locals.values()) {
      if (local.handle.state !== 'running' && local.readers === 0) {
        this.forget(local);
        return true;
      }
    }
    return false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Last chance for the writers: the shutdown's `cancelled` events belong in Redis too.
    await Promise.race([
      Promise.allSettled([...this.locals.values()].map((l) => this.flushNow(l))),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ]);
    this.closed = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.stopReady?.();
    for (const local of [...this.locals.values()]) this.forget(local, true);
    const mine = instanceKeys(this.prefix, this.instance);
    // Leaving on purpose: nothing for a reaper to do (every stream here has ended).
    await Promise.allSettled([
      this.redis.call(['DEL', mine.alive, mine.streams]),
      this.redis.call(['SREM', instancesKey(this.prefix), this.instance]),
      this.redis.subscriber.isReady ? this.redis.subscriber.unsubscribe(mine.control) : Promise.resolve(),
    ]);
  }

  // ---- locals ---------------------------------------------------------------------------------

  private makeLocal(
    keys: StreamKeys,
    meta: StreamMeta & { instance: string },
    log: StreamLog,
    generation: StreamGeneration | undefined,
  ): Local {
    const local: Local = {
      id: meta.id,
      keys,
      meta,
      log,
      generation,
      writer: undefined,
      subscribed: false,
      fetching: false,
      refetch: false,
      broken: false,
      readers: 0,
      remoteReaders: 0,
      expiry: undefined,
      handle: undefined as unknown as LogHandle,
    };
    (local as { handle: LogHandle }).handle = new LogHandle(
      meta,
      log,
      {
        cancel: (reason) => this.cancel(local, reason),
        catchUp: (after) => this.catchUp(local, after),
        usage: () => this.usageSoFar(local),
        message: () => this.messageOf(local),
        readers: (count, exit) => this.onLocalReaders(local, count, exit),
      },
      { maxLagEvents: this.config.maxLagEvents, batch: this.config.cursorBatch },
    );
    this.locals.set(meta.id, local);
    return local;
  }

  /** A finished stream is kept here for its retention period, or until nobody reads it. */
  private onEnded(local: Local): void {
    if (this.closed || this.locals.get(local.id) !== local) return;
    if (local.subscribed) void this.unsubscribeEvents(local);
    if (local.expiry !== undefined) return;
    local.expiry = setTimeout(() => this.forget(local), this.config.retentionMs);
    local.expiry.unref();
  }

  /**
   * Drops a stream from this instance. Cursors still writing the tail of a finished stream keep
   * their own reference to the log and finish normally; only `close` detaches them.
   */
  private forget(local: Local, detach = false): void {
    if (local.expiry !== undefined) clearTimeout(local.expiry);
    local.expiry = undefined;
    if (local.writer !== undefined) this.stopWriter(local.writer);
    if (local.subscribed) void this.unsubscribeEvents(local);
    if (detach) local.handle.detachAll();
    if (this.locals.get(local.id) === local) this.locals.delete(local.id);
  }

  // ---- writer (generating instance) -----------------------------------------------------------

  private startWriter(local: Local, generation: StreamGeneration): Writer {
    const writer: Writer = {
      confirmed: 0,
      messageStored: false,
      inFlight: false,
      again: false,
      immediate: undefined,
      unsubscribe: () => {},
    };
    const schedule = (): void => {
      writer.immediate ??= setImmediate(() => {
        writer.immediate = undefined;
        void this.flush(local, generation, writer);
      });
    };
    writer.unsubscribe = generation.log.subscribe(schedule);
    schedule(); // the start event is already in the log
    return writer;
  }

  private stopWriter(writer: Writer): void {
    writer.unsubscribe();
    if (writer.immediate !== undefined) clearImmediate(writer.immediate);
    writer.immediate = undefined;
  }

  private async flushNow(local: Local): Promise<void> {
    if (local.writer === undefined || local.generation === undefined) return;
    await this.flush(local, local.generation, local.writer);
  }

  /** Writes every entry Redis has not confirmed yet, in one script call. */
  private async flush(local: Local, generation: StreamGeneration, writer: Writer): Promise<void> {
    if (writer.inFlight) {
      writer.again = true;
      return;
    }
    const log = generation.log;
    if (writer.confirmed >= log.lastSeq || this.closed) return;
    // Entries the local bounds already dropped are gone for Redis too (it keeps the same bound).
    const entries = log.readAfter(Math.max(writer.confirmed, log.firstSeq - 1));
    const args = [
      String(this.config.log.maxEvents),
      String(log.ended ? this.config.retentionMs : this.runningTtlMs()),
      JSON.stringify(generation.usage),
      log.terminal?.json ?? '',
      local.keys.events,
    ];
    for (const entry of entries) args.push(String(entry.seq), entry.json);
    writer.inFlight = true;
    try {
      if (log.ended && !writer.messageStored) {
        // Before the terminal event reaches Redis, so any instance that sees it finds the reply
        // (`?include=message` after the log's bounds dropped the stream's start).
        await this.redis.call(['HSET', local.keys.meta, 'message', JSON.stringify(generation.message())]);
        writer.messageStored = true;
      }
      const reply = await this.redis.script(APPEND, [local.keys.log, local.keys.meta], args);
      const held = Number(reply);
      if (held === -1) {
        // A survivor ended it while we were cut off (our lease ran out): it is over everywhere.
        generation.fail(
          new RelayError(
            'instance_lost',
            'this stream was ended by another instance while this one was cut off',
          ),
        );
        writer.confirmed = log.lastSeq;
      } else if (held === -2) {
        generation.fail(storeUnavailable('Redis lost this stream (restarted without its data)'));
        writer.confirmed = log.lastSeq;
      } else if (Number.isInteger(held) && held >= 0) {
        writer.confirmed = Math.max(writer.confirmed, held);
      } else {
        throw new RelayError('internal_error', 'unexpected reply from the append script');
      }
    } catch (err) {
      // Kept for the next heartbeat: the entries stay in the local log until Redis takes them.
      this.onError(err, `append to stream ${local.id}`);
    } finally {
      writer.inFlight = false;
    }
    if (writer.confirmed >= log.lastSeq && log.ended) {
      this.stopWriter(writer);
      local.writer = undefined;
      void this.redis
        .call(['SREM', instanceKeys(this.prefix, this.instance).streams, local.id])
        .catch(() => {});
      return;
    }
    if (writer.again) {
      writer.again = false;
      await this.flush(local, generation, writer);
    }
  }

  // ---- follower (other instances) -------------------------------------------------------------

  private async follow(id: string): Promise<Local | undefined> {
    const keys = streamKeys(this.prefix, id);
    const raw = await this.redis.call(['HGETALL', keys.meta]);
    const fields = hashReply(raw);
    if (fields === undefined) throw badReply(`meta of ${id}`);
    if (Object.keys(fields).length === 0) return undefined;
    const parsed = metaSchema.safeParse(fields);
    if (!parsed.success) {
      this.onError(parsed.error, `meta of stream ${id}`);
      throw badReply(`meta of ${id}`);
    }
    const m = parsed.data;
    const previous = this.locals.get(id);
    if (previous !== undefined && !previous.broken) return previous;
    if (previous !== undefined) this.forget(previous);
    const local = this.makeLocal(
      keys,
      { id, owner: m.owner, model: m.model, createdAt: m.created_at, instance: m.instance },
      new StreamLog(this.config.log),
      undefined,
    );
    // Subscribe before the first read, so nothing written in between is missed.
    try {
      if (m.terminal === undefined || m.terminal === '') await this.subscribeEvents(local);
    } catch (err) {
      this.forget(local);
      throw storeUnavailable(err instanceof Error ? err.message : 'subscribe failed');
    }
    await this.fetch(local);
    // A handle nobody attaches to is dropped soon; readers keep it (see onLocalReaders).
    this.scheduleIdleDrop(local);
    return local;
  }

  private async subscribeEvents(local: Local): Promise<void> {
    local.subscribed = true;
    await this.redis.subscriber.subscribe(local.keys.events, (message) => this.onBatch(local, message));
  }

  /**
   * A batch announced by the generating instance: its last seq, then its events. When they follow
   * the replica's last seq they are appended at once (one Redis round trip saved per batch);
   * otherwise, or when anything does not parse, the log is read back from Redis.
   */
  private onBatch(local: Local, message: string): void {
    if (local.generation !== undefined || local.broken || local.log.ended) return;
    const lines = message.split('\n');
    const last = Number(lines[0]);
    for (let i = 1; i < lines.length; i++) {
      const parsed = eventSchema.safeParse(safeJson(lines[i]!));
      if (!parsed.success) break;
      const event = parsed.data;
      if (event.seq <= local.log.lastSeq) continue;
      if (event.seq !== local.log.lastSeq + 1) break;
      local.log.append(event as unknown as RelayEventBody);
    }
    if (local.log.ended) this.onEnded(local);
    else if (!(Number.isInteger(last) && last <= local.log.lastSeq)) void this.fetch(local);
  }

  private async unsubscribeEvents(local: Local): Promise<void> {
    local.subscribed = false;
    if (!this.redis.subscriber.isReady) return;
    await this.redis.subscriber.unsubscribe(local.keys.events).catch(() => {});
  }

  /** Reads what the replica has not seen yet; one read in flight per stream, repeated if notified meanwhile. */
  private async fetch(local: Local): Promise<void> {
    if (local.generation !== undefined || local.broken || local.log.ended) return;
    if (local.fetching) {
      local.refetch = true;
      return;
    }
    local.fetching = true;
    try {
      for (;;) {
        local.refetch = false;
        const from = local.log.lastSeq + 1;
        const raw = await this.redis.call(['XRANGE', local.keys.log, `${from}-0`, '+', 'COUNT', '1000']);
        const count = this.applyEntries(local, raw);
        if (count < 1000 && !local.refetch) break;
        if (local.broken || local.log.ended) break;
      }
    } catch (err) {
      // Redis away: the heartbeat catches up on reconnect, or ends the replica if it stays away.
      if (!(err instanceof RelayError) || err.code !== 'store_unavailable') this.onError(err, 'follow');
    } finally {
      local.fetching = false;
    }
    if (local.log.ended) this.onEnded(local);
  }

  /** Appends XRANGE entries to the replica; returns how many came. Bad data ends the replica. */
  private applyEntries(local: Local, raw: unknown): number {
    if (!Array.isArray(raw)) {
      this.breakReplica(local, badReply(`log of ${local.id}`));
      return 0;
    }
    for (const item of raw) {
      const event = parseEntry(item);
      if (event === undefined) {
        this.onError(new Error('unparsable log entry'), `log of stream ${local.id}`);
        this.breakReplica(local, badReply(`log of ${local.id}`));
        return raw.length;
      }
      if (event.seq <= local.log.lastSeq) continue;
      // Redis trimmed what this replica never saw: it counts as dropped here too.
      if (event.seq > local.log.lastSeq + 1) local.log.skipTo(event.seq);
      local.log.append(event as unknown as RelayEventBody);
    }
    return raw.length;
  }

  /** Ends a replica locally (its readers get one terminal error); later opens follow afresh. */
  private breakReplica(local: Local, error: RelayError): void {
    if (local.log.ended) return;
    local.broken = true;
    const usage: Usage = { input_tokens: 0, output_tokens: 0, estimated: true };
    local.log.append({
      type: 'error',
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      usage,
    });
    this.onEnded(local);
  }

  private scheduleIdleDrop(local: Local): void {
    if (local.readers > 0 || local.expiry !== undefined) return;
    // Short for a replica nobody reads (a state or cancel request), so replicas do not pile up.
    local.expiry = setTimeout(() => this.forget(local), Math.min(this.config.retentionMs, 10_000));
    local.expiry.unref();
  }

  // ---- presence -------------------------------------------------------------------------------

  private onLocalReaders(local: Local, count: number, exit?: ReaderExit): void {
    const before = local.readers;
    local.readers = count;
    if (local.generation !== undefined) {
      local.generation.readers(count + local.remoteReaders, exit);
      return;
    }
    if (count > 0 && local.expiry !== undefined && !local.log.ended) {
      clearTimeout(local.expiry);
      local.expiry = undefined;
    }
    if (count === 0 && !local.log.ended) this.scheduleIdleDrop(local);
    if ((before === 0) === (count === 0) || local.log.ended || local.broken) return;
    void this.announcePresence(local, count > 0, exit).catch((err) => this.onError(err, 'presence'));
  }

  private async announcePresence(local: Local, present: boolean, exit?: ReaderExit): Promise<void> {
    const field = this.instance;
    if (present) await this.markReader(local);
    else await this.redis.call(['HDEL', local.keys.readers, field]);
    const message = JSON.stringify({ op: 'presence', id: local.id, ...(exit === undefined ? {} : { exit }) });
    await this.redis.call(['PUBLISH', instanceKeys(this.prefix, local.meta.instance).control, message]);
  }

  /** This instance reads the stream until one lease from now; the hash expires on its own when nobody refreshes it. */
  private async markReader(local: Local): Promise<void> {
    await Promise.all([
      this.redis.call(['HSET', local.keys.readers, this.instance, String(Date.now() + this.leaseMs)]),
      this.redis.call(['PEXPIRE', local.keys.readers, String(2 * this.leaseMs)]),
    ]);
  }

  /** Generating instance: recounts readers on other instances (live entries only) and tells the generation. */
  private async recountRemote(local: Local, exit?: ReaderExit): Promise<void> {
    const generation = local.generation;
    if (generation === undefined || generation.state !== 'running') return;
    const fields = hashReply(await this.redis.call(['HGETALL', local.keys.readers])) ?? {};
    const now = Date.now();
    let remote = 0;
    for (const [instance, until] of Object.entries(fields)) {
      if (instance !== this.instance && Number(until) > now) remote++;
    }
    local.remoteReaders = remote;
    generation.readers(local.readers + remote, exit ?? 'detached');
  }

  // ---- cancel ---------------------------------------------------------------------------------

  private async cancel(local: Local, reason: CancelReason): Promise<void> {
    if (local.generation !== undefined) {
      local.generation.cancel(reason);
      // The terminal event follows once a conversation turn is kept (see StreamGeneration).
      await local.generation.ended;
      return;
    }
    const message = JSON.stringify({ op: 'cancel', id: local.id, reason });
    const heard = Number(
      await this.redis.call(['PUBLISH', instanceKeys(this.prefix, local.meta.instance).control, message]),
    );
    if (heard === 0) {
      // Nobody generates it any more (that instance is gone): end it here, once, with the usage so far.
      await this.redis.script(
        END_IF_RUNNING,
        [local.keys.log, local.keys.meta],
        [
          String(this.config.log.maxEvents),
          String(this.config.retentionMs),
          JSON.stringify({ type: 'cancelled', reason }),
          local.keys.events,
        ],
      );
    }
    await this.fetch(local);
    await waitForEnd(local.log, this.cancelWaitMs);
  }

  /** A client read up to `after` elsewhere: the writer's batch is on its way; wait a little for it. */
  private async catchUp(local: Local, after: number): Promise<void> {
    if (local.generation !== undefined) return;
    await this.fetch(local);
    await waitFor(local.log, () => local.log.lastSeq >= after || local.log.ended, CATCH_UP_MS);
  }

  /**
   * The generation's own assembly here; on another instance the copy written with the terminal
   * event. A replica of a running stream has none: the handle folds its log (which may have lost
   * the start: `replay_unavailable`).
   */
  private async messageOf(local: Local): Promise<AssembledMessage | undefined> {
    if (local.generation !== undefined) return local.generation.message();
    if (!local.log.ended) return undefined;
    const raw = await this.redis.call(['HGET', local.keys.meta, 'message']);
    if (typeof raw !== 'string' || raw === '') return undefined;
    const parsed = messageSchema.safeParse(safeJson(raw));
    if (!parsed.success) throw badReply(`message of ${local.id}`);
    return parsed.data as unknown as AssembledMessage;
  }

  private async usageSoFar(local: Local): Promise<Usage> {
    if (local.generation !== undefined) return local.generation.usage;
    const raw = await this.redis.call(['HGET', local.keys.meta, 'usage']);
    if (typeof raw !== 'string' || raw === '') return { input_tokens: 0, output_tokens: 0, estimated: true };
    const parsed = usageSchema.safeParse(safeJson(raw));
    if (!parsed.success) throw badReply(`usage of ${local.id}`);
    return parsed.data as Usage;
  }

  // ---- control channel ------------------------------------------------------------------------

  private controlSubscribed = false;

  private async subscribeControl(): Promise<void> {
    const channel = instanceKeys(this.prefix, this.instance).control;
    try {
      await this.redis.subscriber.subscribe(channel, (message) => this.onControl(message));
      this.controlSubscribed = true;
    } catch (err) {
      this.onError(err, 'subscribe control channel');
    }
  }

  private onControl(message: string): void {
    const parsed = controlSchema.safeParse(safeJson(message));
    if (!parsed.success) {
      this.onError(parsed.error, 'control message');
      return;
    }
    const local = this.locals.get(parsed.data.id);
    if (local?.generation === undefined) return;
    const command = parsed.data;
    switch (command.op) {
      case 'cancel':
        local.generation.cancel(command.reason);
        break;
      case 'presence':
        void this.recountRemote(local, command.exit).catch((err) => this.onError(err, 'presence'));
        break;
      default:
        assertNeverOp(command);
    }
  }

  /** After a reconnect: node-redis resubscribes; catch up on what was published meanwhile. */
  private async resubscribe(): Promise<void> {
    for (const local of this.locals.values()) if (local.subscribed) void this.fetch(local);
  }

  // ---- heartbeat: lease, health, presence refresh, catch-up, reaper ----------------------------

  private ticking = false;

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      await this.beat();
    } finally {
      this.ticking = false;
    }
  }

  private async beat(): Promise<void> {
    const mine = instanceKeys(this.prefix, this.instance);
    try {
      // The connection's own deadline (2 s), not the heartbeat period: a busy event loop is not an outage.
      await Promise.all([
        this.redis.call(['SET', mine.alive, '1', 'PX', String(this.leaseMs)]),
        this.redis.call(['SADD', instancesKey(this.prefix), this.instance]),
        this.redis.call(['PEXPIRE', mine.streams, String(this.runningTtlMs())]),
      ]);
      this.lastPingOk = true;
      this.downSince = undefined;
    } catch {
      this.lastPingOk = false;
      this.downSince ??= Date.now();
      if (Date.now() - this.downSince >= this.storeDownMs) this.endEverythingRunning();
      return;
    }
    const work: Promise<unknown>[] = [];
    for (const local of this.locals.values()) {
      if (local.log.ended || local.broken) continue;
      if (local.generation !== undefined) {
        if (local.writer !== undefined) work.push(this.flushNow(local));
        if (local.remoteReaders > 0) work.push(this.recountRemote(local));
      } else {
        if (local.subscribed) work.push(this.fetch(local));
        if (local.readers > 0) work.push(this.markReader(local));
      }
    }
    // Ended streams whose terminal is not in Redis yet (written while it was away).
    for (const local of this.locals.values()) {
      if (local.log.ended && local.writer !== undefined) work.push(this.flushNow(local));
    }
    work.push(this.reap());
    const results = await Promise.allSettled(work);
    for (const r of results) if (r.status === 'rejected') this.onError(r.reason, 'heartbeat');
  }

  /** Redis stayed away: every running stream here ends with one terminal event for its readers. */
  private endEverythingRunning(): void {
    const error = storeUnavailable(`Redis has been unreachable for over ${this.storeDownMs} ms`);
    for (const local of [...this.locals.values()]) {
      if (local.log.ended) continue;
      if (local.generation !== undefined) local.generation.fail(error);
      else this.breakReplica(local, error);
    }
  }

  /** Ends the streams of every instance whose lease ran out, once (the first survivor to claim it). */
  private async reap(): Promise<void> {
    const members = await this.redis.call(['SMEMBERS', instancesKey(this.prefix)]);
    if (!Array.isArray(members)) throw badReply('instances');
    for (const other of members) {
      if (typeof other !== 'string' || other === this.instance || !isInstanceId(other)) continue;
      const keys = instanceKeys(this.prefix, other);
      if (Number(await this.redis.call(['EXISTS', keys.alive])) === 1) continue;
      const claimed = await this.redis.call(['SET', keys.reaper, this.instance, 'NX', 'PX', '30000']);
      if (claimed !== 'OK') continue;
      const ids = await this.redis.call(['SMEMBERS', keys.streams]);
      if (Array.isArray(ids)) {
        for (const id of ids) {
          if (typeof id !== 'string' || !isStreamId(id)) continue;
          const k = streamKeys(this.prefix, id);
          await this.redis.script(
            END_IF_RUNNING,
            [k.log, k.meta],
            [
              String(this.config.log.maxEvents),
              String(this.config.retentionMs),
              JSON.stringify({
                type: 'error',
                code: 'instance_lost',
                message: 'the instance generating this stream stopped; start it again',
                retryable: true,
              }),
              k.events,
            ],
          );
        }
      }
      await this.redis.call(['DEL', keys.streams]);
      await this.redis.call(['SREM', instancesKey(this.prefix), other]);
    }
  }

  /** Keys of a running stream live this long past its last write (a finished one: the retention). */
  private runningTtlMs(): number {
    return this.config.retentionMs + Math.max(this.config.maxDurationMs, 60_000);
  }
}

function storeUnavailable(detail: string): RelayError {
  return new RelayError('store_unavailable', `the stream store (Redis) is unavailable: ${detail}`);
}

function badReply(what: string): RelayError {
  return new RelayError('internal_error', `the stream store answered something unreadable (${what})`);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** HGETALL's RESP2 reply (a flat array) as an object; undefined when it is not one. */
function hashReply(raw: unknown): Record<string, string> | undefined {
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    // RESP3 (or a client that maps): already an object.
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') out[k] = v;
    return out;
  }
  if (!Array.isArray(raw) || raw.length % 2 !== 0) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i];
    const v = raw[i + 1];
    if (typeof k !== 'string' || typeof v !== 'string') return undefined;
    out[k] = v;
  }
  return out;
}

/** One XRANGE item `[id, ['e', json]]` as an event whose seq matches its entry id. */
function parseEntry(item: unknown): (Record<string, unknown> & { seq: number; type: string }) | undefined {
  if (!Array.isArray(item) || typeof item[0] !== 'string' || !Array.isArray(item[1])) return undefined;
  const seq = Number(item[0].split('-')[0]);
  const fields = item[1];
  const json = fields[0] === 'e' ? fields[1] : undefined;
  if (typeof json !== 'string') return undefined;
  const parsed = eventSchema.safeParse(safeJson(json));
  if (!parsed.success || parsed.data.seq !== seq) return undefined;
  return parsed.data as Record<string, unknown> & { seq: number; type: string };
}

/** How long a resume waits for a replica to catch up with what the client already read elsewhere. */
const CATCH_UP_MS = 2000;

/** Resolves when `log` has its terminal event, or after `ms`. */
function waitForEnd(log: StreamLog, ms: number): Promise<void> {
  return waitFor(log, () => log.ended, ms);
}

/** Resolves once `check` holds (checked after each append), or after `ms`. */
function waitFor(log: StreamLog, check: () => boolean, ms: number): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      stop();
      resolve();
    };
    const timer = setTimeout(done, ms);
    const stop = log.subscribe(() => {
      if (check()) done();
    });
  });
}

function assertNeverOp(value: never): never {
  throw new Error(`unknown control op ${JSON.stringify(value)}`);
}
