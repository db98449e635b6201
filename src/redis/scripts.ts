/**
 * The Lua scripts that keep a stream's Redis state consistent. Each touches only one stream's keys
 * (one hash tag), so it runs atomically on one node of a cluster too. Redis 7.0 commands only.
 */
import { createHash } from 'node:crypto';

export interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Appends a batch from the generating instance.
 * KEYS: log, meta. ARGV: maxlen, ttl_ms, usage_json, terminal_json ('' while running),
 * channel, then seq, event_json pairs (ascending).
 * Returns the last seq held after the call; -1 when the stream already ended elsewhere (a survivor
 * wrote `instance_lost`); -2 when the stream is unknown (Redis lost its data, or it expired). Entries at or below the held seq are skipped, so a batch re-sent after a lost
 * reply is harmless.
 */
export const APPEND = script(`
local ended = redis.call('HGET', KEYS[2], 'terminal')
if ended and ended ~= '' then return -1 end
local held = redis.call('HGET', KEYS[2], 'last_seq')
if not held then return -2 end
local last = tonumber(held)
for i = 6, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq > last then
    redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], seq .. '-0', 'e', ARGV[i + 1])
    last = seq
  end
end
redis.call('HSET', KEYS[2], 'last_seq', last, 'usage', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'terminal', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[5], last)
return last
`);

/**
 * Ends a stream from outside its generation (instance lost, a cancel nobody generating heard),
 * only if it has no terminal event yet: the one place besides APPEND that writes a terminal.
 * KEYS: log, meta. ARGV: maxlen, ttl_ms, event_json (without seq or usage), channel.
 * The event gets seq = last + 1 and the usage the generation last wrote. Returns the new seq, or 0
 * when the stream had already ended or does not exist.
 */
export const END_IF_RUNNING = script(`
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local ended = redis.call('HGET', KEYS[2], 'terminal')
if ended and ended ~= '' then return 0 end
local last = tonumber(redis.call('HGET', KEYS[2], 'last_seq') or '0')
local event = cjson.decode(ARGV[3])
local usage = redis.call('HGET', KEYS[2], 'usage')
if usage and usage ~= '' then event['usage'] = cjson.decode(usage) end
event['seq'] = last + 1
local json = cjson.encode(event)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], (last + 1) .. '-0', 'e', json)
redis.call('HSET', KEYS[2], 'last_seq', last + 1, 'terminal', json)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[4], last + 1)
return last + 1
`);

/**
 * A conversation's compare-and-set. KEYS: the conversation hash. ARGV: expected version ('' = must
 * not exist), new version, document JSON, ttl_ms. Returns 1 when written, 0 on a version mismatch.
 */
export const CONVERSATION_SAVE = script(`
local current = redis.call('HGET', KEYS[1], 'v')
if current then
  if ARGV[1] == '' or current ~= ARGV[1] then return 0 end
elseif ARGV[1] ~= '' then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'doc', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`);

/** Deletes a conversation, only at the expected version when one is given ('' = any). Returns 1 or 0. */
export const CONVERSATION_DELETE = script(`
local current = redis.call('HGET', KEYS[1], 'v')
if not current then return 0 end
if ARGV[1] ~= '' and current ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);
