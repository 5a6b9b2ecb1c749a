#!lua flags=allow-oom
--[[
  Give back one permit of a semaphore; an unknown or expired permit changes nothing.

  KEYS[1]  permit set: ZSET permit id -> expiry in server milliseconds
  KEYS[2]  wake list in the same slot (<permit set>:wake): waiters BLPOP it
  ARGV[1]  permit id: 1 to 64 letters, digits, "_" or "-"
  ARGV[2]  limit: an integer >= 1 (at most 10 digits)
  ARGV[3]  wake list lifetime in milliseconds: an integer > 0 (at most 9 digits)

  The time is the server's (TIME). When the set was full (limit or more unexpired
  permits) before this release, one wake-up is pushed to the wake list (kept to at most
  limit entries, PEXPIRE of the lifetime): a waiter may be blocked on it. Expired permits
  are reclaimed; the set's PEXPIRE follows its furthest expiry, and the set is gone with
  its last permit. Runs under OOM: giving back never grows the data set for long.

  Returns  1 when the permit was held and is released, else 0 (nothing changed).
  Errors   INVALID_ARGUMENT when an argument is malformed (nothing is written).
  Idempotent  no
]]
local set, wake = KEYS[1], KEYS[2]
local permit, limit, wake_ms = ARGV[1], ARGV[2], ARGV[3]

local function positive(text, digits)
  return #text <= digits and string.match(text, '^[1-9]%d*$') ~= nil
end

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(value, 1, 64) .. '"')
end

if #permit > 64 or not string.match(permit, '^[%w_-]+$') then
  return invalid('permit must be 1 to 64 letters, digits, _ or -', permit)
end
if not positive(limit, 10) then return invalid('limit must be an integer >= 1', limit) end
if not positive(wake_ms, 9) then
  return invalid('wake lifetime must be an integer > 0 (ms)', wake_ms)
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local score = redis.call('ZSCORE', set, permit)
if not score or tonumber(score) <= now then
  return 0
end
local stamp = string.format('%d', now)
local held = redis.call('ZCOUNT', set, '(' .. stamp, '+inf')

if held >= tonumber(limit) then -- first write: a wake list of the wrong type fails here
  redis.call('RPUSH', wake, '1')
  redis.call('LTRIM', wake, 0, tonumber(limit) - 1)
  redis.call('PEXPIRE', wake, wake_ms)
end
redis.call('ZREM', set, permit)
redis.call('ZREMRANGEBYSCORE', set, '-inf', stamp)
local last = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIRE', set, string.format('%d', tonumber(last[2]) - now))
end
return 1
