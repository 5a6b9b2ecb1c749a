--[[
  Take one permit of a semaphore if fewer than limit unexpired permits are held.

  KEYS[1]  permit set: ZSET permit id -> expiry in server milliseconds
  KEYS[2]  wake list in the same slot (<permit set>:wake): waiters BLPOP it
  ARGV[1]  permit id: 1 to 64 letters, digits, "_" or "-"
  ARGV[2]  limit: an integer >= 1 (at most 10 digits)
  ARGV[3]  ttl in milliseconds: an integer > 0 (at most 15 digits)
  ARGV[4]  "1" when the caller was just woken from the wake list, else "0"
  ARGV[5]  wake list lifetime in milliseconds: an integer > 0 (at most 9 digits)

  The time is the server's (TIME), one clock for every client. Permits whose expiry is
  at or before now are removed (reclaimed) first. A permit id that is still held is
  granted again with a fresh expiry, so a re-sent call never takes a second permit. The
  set's PEXPIRE follows its furthest expiry. A woken caller that leaves free permits
  pushes one wake-up for the next waiter (a wake-up is consumed by one waiter only).

  Returns  {1, expiry in ms, free permits left} when granted, else {0, ms until the
           earliest permit expires, 0}; all integers.
  Errors   INVALID_ARGUMENT when an argument is malformed (nothing is written).
  Idempotent  yes
]]
local set, wake = KEYS[1], KEYS[2]
local permit, limit, ttl, woken, wake_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

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
if not positive(ttl, 15) then return invalid('ttl must be an integer > 0 (ms)', ttl) end
if woken ~= '0' and woken ~= '1' then return invalid('woken must be 0 or 1', woken) end
if not positive(wake_ms, 9) then
  return invalid('wake lifetime must be an integer > 0 (ms)', wake_ms)
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local stamp = string.format('%d', now)
local after = '(' .. stamp
local held = redis.call('ZCOUNT', set, after, '+inf')
local mine = redis.call('ZSCORE', set, permit)
local again = mine and tonumber(mine) > now

if not again and held >= tonumber(limit) then
  local first = redis.call('ZRANGEBYSCORE', set, after, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', stamp)
  return {0, tonumber(first[2]) - now, 0}
end

local expiry = now + tonumber(ttl)
local last = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
local furthest = math.max(expiry, tonumber(last[2] or 0))
local free = tonumber(limit) - held - (again and 0 or 1)

if woken == '1' and free > 0 then -- first write: a wake list of the wrong type fails here
  redis.call('RPUSH', wake, '1')
  redis.call('LTRIM', wake, 0, tonumber(limit) - 1)
  redis.call('PEXPIRE', wake, wake_ms)
end
redis.call('ZREMRANGEBYSCORE', set, '-inf', stamp)
redis.call('ZADD', set, string.format('%d', expiry), permit)
redis.call('PEXPIRE', set, string.format('%d', furthest - now))
return {1, expiry, math.max(free, 0)}
