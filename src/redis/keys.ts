/**
 * Every Redis key and channel the relay uses, in one place. A stream's keys share the `{stream_id}`
 * hash tag so a Redis Cluster keeps them in one slot (one script can touch them all). Ids from
 * clients are checked against the shape the relay mints before they are put in a key.
 */

/** The shape of ids minted by `newStreamId` (str_ + 128 random bits, base64url). */
const STREAM_ID = /^str_[A-Za-z0-9_-]{22}$/;
/** Instance ids are minted here too (hex); checked before they reach a key from a message. */
const INSTANCE_ID = /^[a-f0-9]{16,32}$/;

export function isStreamId(id: string): boolean {
  return STREAM_ID.test(id);
}

export function isInstanceId(id: string): boolean {
  return INSTANCE_ID.test(id);
}

export interface StreamKeys {
  /** Redis Stream: one entry per relay event, entry id `<seq>-0`, field `e` = the event JSON. */
  readonly log: string;
  /** Hash: owner, model, created_at, instance, last_seq, usage (JSON), terminal (JSON once ended). */
  readonly meta: string;
  /** Hash: instance id → epoch ms until which that instance has a reader (shared presence). */
  readonly readers: string;
  /** Channel: the generating instance publishes the last seq written after each batch. */
  readonly events: string;
}

export function streamKeys(prefix: string, id: string): StreamKeys {
  if (!isStreamId(id)) throw new Error('stream id has the wrong shape for a Redis key');
  const tag = `${prefix}{${id}}`;
  return { log: `${tag}:log`, meta: `${tag}:meta`, readers: `${tag}:readers`, events: `${tag}:events` };
}

export interface InstanceKeys {
  /** String with a TTL: present while the instance is alive (its lease). */
  readonly alive: string;
  /** Set: ids of the streams it is generating (the reaper ends them when the lease runs out). */
  readonly streams: string;
  /** String NX: the survivor that claimed the dead instance's streams. */
  readonly reaper: string;
  /** Channel: cancels and presence changes for the streams it generates. */
  readonly control: string;
}

export function instanceKeys(prefix: string, instance: string): InstanceKeys {
  if (!isInstanceId(instance)) throw new Error('instance id has the wrong shape for a Redis key');
  const tag = `${prefix}instance:{${instance}}`;
  return {
    alive: `${tag}:alive`,
    streams: `${tag}:streams`,
    reaper: `${tag}:reaper`,
    control: `${tag}:control`,
  };
}

/** Set of every instance id that registered (the reaper walks it). */
export function instancesKey(prefix: string): string {
  return `${prefix}instances`;
}

/** The shape the request schema allows for `conversation_id`. */
const CONVERSATION_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function isConversationId(id: string): boolean {
  return CONVERSATION_ID.test(id);
}

/** Hash: `v` (the version, the compare-and-set token) and `doc` (the conversation as JSON). */
export function conversationKey(prefix: string, id: string): string {
  if (!isConversationId(id)) throw new Error('conversation id has the wrong shape for a Redis key');
  return `${prefix}conversation:{${id}}`;
}

/** Sorted set: conversation ids scored by their expiry (epoch ms), for the capacity count. */
export function conversationIndexKey(prefix: string): string {
  return `${prefix}conversations`;
}
