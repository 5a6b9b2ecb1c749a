#!lua flags=allow-oom
--[[
  Extend one held permit of a semaphore to now + ttl (never shortening it).

  KEYS[1]  permit set: ZSET permit id -> expiry in server milliseconds
  ARGV[1]  permit id: 1 to 64 letters, digits, "_" or "-"
  ARGV[2]  ttl in milliseconds: an integer > 0 (at most 15 digits)

  The time is the server's (TIME). An unknown or expired permit is not brought back: a
  permit that expired may already have been handed to someone else. The set's PEXPIRE
  follows its furthest expiry. Runs under OOM: renewing an existing permit adds nothing.

  Returns  the permit's new expiry in ms (integer) when it was held, else 0 (nothing
           changed).
  Errors   INVALID_ARGUMENT when an argument is malformed (nothing is written).
  Idempotent  yes
]]
local set = KEYS[1]
local permit, ttl = ARGV[1], ARGV[2]

if #permit > 64 or not string.match(permit, '^[%w_-]+$') then
  return redis.error_reply('INVALID_ARGUMENT permit must be 1 to 64 letters, digits, _ or -, got "'
    .. string.sub(permit, 1, 64) .. '"')
end
if #ttl > 15 or not string.match(ttl, '^[1-9]%d*$') then
  return redis.error_reply('INVALID_ARGUMENT ttl must be an integer > 0 (ms), got "'
    .. string.sub(ttl, 1, 64) .. '"')
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local score = redis.call('ZSCORE', set, permit)
if not score or tonumber(score) <= now then
  return 0
end
local expiry = math.max(tonumber(score), now + tonumber(ttl))
local last = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
local furthest = math.max(expiry, tonumber(last[2]))

redis.call('ZADD', set, 'XX', string.format('%d', expiry), permit)
redis.call('PEXPIRE', set, string.format('%d', furthest - now))
return expiry
