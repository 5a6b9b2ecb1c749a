#!lua flags=no-writes
--[[
  Read the unexpired permits of a semaphore, or only how many there are.

  KEYS[1]  permit set: ZSET permit id -> expiry in server milliseconds
  ARGV[1]  (optional) "count" to get the number of permits only

  The time is the server's (TIME); permits whose expiry is at or before now are not
  counted (the next acquire reclaims them).

  Returns  {server time in ms, number of permits} with "count", else {server time in ms,
           {permit, expiry in ms, permit, expiry in ms, ...}} ordered by expiry; times are
           integers, permits and expiries strings.
  Errors   INVALID_ARGUMENT when ARGV[1] is given and is not "count".
  Idempotent  yes
]]
local set, mode = KEYS[1], ARGV[1]
if mode ~= nil and mode ~= 'count' then
  return redis.error_reply('INVALID_ARGUMENT mode must be "count" or left out, got "'
    .. string.sub(mode, 1, 64) .. '"')
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local after = '(' .. string.format('%d', now)
if mode == 'count' then
  return {now, redis.call('ZCOUNT', set, after, '+inf')}
end
return {now, redis.call('ZRANGEBYSCORE', set, after, '+inf', 'WITHSCORES')}
