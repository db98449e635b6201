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
 * Publishes the last seq, then the events this call wrote, one JSON per line (JSON has no raw
 * newline), so a follower that is level applies them without reading the log back.
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
local written = {}
for i = 6, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq > last then
    redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], seq .. '-0', 'e', ARGV[i + 1])
    last = seq
    written[#written + 1] = ARGV[i + 1]
  end
end
redis.call('HSET', KEYS[2], 'last_seq', last, 'usage', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'terminal', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if #written > 0 then
  redis.call('PUBLISH', ARGV[5], last .. '\\n' .. table.concat(written, '\\n'))
else
  redis.call('PUBLISH', ARGV[5], last)
end
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

/**
 * Admits one request of a principal or says which limit refuses it. Time is Redis's own (`TIME`),
 * so the instances' clocks do not matter. KEYS: slots, window, spend (one principal, one hash tag).
 * ARGV: request id, concurrent ('' = none), per-minute requests (''), per-minute tokens (''),
 * tokens to reserve, slot ttl ms.
 * Returns {verdict, retry_after_ms}: 0 admitted, 1 concurrency, 2 requests, 3 tokens. A slot whose
 * holder stopped refreshing it (an instance that died) has expired and no longer counts.
 */
export const LIMIT_ACQUIRE = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local since = now - 60000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', since)
for _, id in ipairs(old) do redis.call('HDEL', KEYS[3], id) end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', since) end
if ARGV[2] ~= '' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {1, 0} end
if ARGV[3] ~= '' then
  local max = tonumber(ARGV[3])
  local count = redis.call('ZCARD', KEYS[2])
  if count >= max then
    local at = redis.call('ZRANGE', KEYS[2], count - max, count - max, 'WITHSCORES')
    return {2, tonumber(at[2]) + 60000 - now}
  end
end
local reserve = tonumber(ARGV[5])
if ARGV[4] ~= '' then
  local room = tonumber(ARGV[4]) - reserve
  local total = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[3])) do total = total + tonumber(v) end
  if total > room then
    local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    local wait = 60000
    for i = 1, #entries, 2 do
      total = total - tonumber(redis.call('HGET', KEYS[3], entries[i]) or '0')
      if total <= room then
        wait = tonumber(entries[i + 1]) + 60000 - now
        break
      end
    end
    return {3, wait}
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[6]), ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], reserve)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], 61000)
redis.call('PEXPIRE', KEYS[3], 61000)
return {0, 0}
`);

/**
 * Settles one admitted request: frees its slot and replaces its reservation with what it used (if
 * it is still in the window). KEYS: slots, window, spend. ARGV: request id, used tokens.
 */
export const LIMIT_SETTLE = script(`
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) end
return 1
`);

/**
 * Keeps the slots an instance holds for one principal alive for another ttl. Only slots still
 * there (XX): a refresh that crosses a settle must not bring a freed slot back. KEYS: slots.
 * ARGV: ttl ms, then request ids.
 */
export const LIMIT_REFRESH = script(`
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_ms, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`);
