/**
 * Every Redis key and channel the relay uses, in one place. A stream's keys share the `{stream_id}`
 * hash tag so a Redis Cluster keeps them in one slot (one script can touch them all). Ids from
 * clients are checked against the shape the relay mints before they are put in a key.
 */

import { createHash } from 'node:crypto';

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

export interface LimitKeys {
  /** Sorted set: request id → epoch ms (Redis clock) until which its concurrency slot is held. */
  readonly slots: string;
  /** Sorted set: request id → when it was admitted (the sliding minute of requests and tokens). */
  readonly window: string;
  /** Hash: request id → tokens it counts in the window (its reservation until settled). */
  readonly spend: string;
}

/**
 * A principal's limiter keys. Principal ids are free text (key ids, JWT `sub`s): the key holds
 * their SHA-256 instead, so no client text reaches a key and all three share one hash tag.
 */
export function limitKeys(prefix: string, principalId: string): LimitKeys {
  const tag = `${prefix}limit:{${createHash('sha256').update(principalId).digest('base64url')}}`;
  return { slots: `${tag}:slots`, window: `${tag}:window`, spend: `${tag}:spend` };
}

/** The shape of ticket ids (`jti`) the relay mints (randomUUID). */
const TICKET_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isTicketId(id: string): boolean {
  return TICKET_ID.test(id);
}

/** String with a TTL: present once the ticket `jti` was spent (single use across instances). */
export function spentTicketKey(prefix: string, jti: string): string {
  if (!isTicketId(jti)) throw new Error('ticket id has the wrong shape for a Redis key');
  return `${prefix}ticket:{${jti}}:spent`;
}

/** String: the HMAC secret every instance signs tickets with when RELAY_TICKET_SECRET is unset. */
export function ticketSecretKey(prefix: string): string {
  return `${prefix}ticket-secret`;
}
