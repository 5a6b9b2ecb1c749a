#!lua
--[[
  Take a lock if it is free, or if it holds a grant that no waiter picked up, and hand
  out the next fencing token in the same step. When the lock is busy, tell the caller
  how long the holder has left and, if the caller is going to wait, queue it for a
  grant: the holder's release then gives the lock straight to a waiter (see
  locks_release).

  KEYS[1]  lock string redlua:lock:{<name>}: the holder's token; expires after its ttl
  KEYS[2]  grant list redlua:lock:{<name>}:wake: "<token> <fence> <ttl ms>" of a grant
           no waiter has popped yet; expires with the granted lock. A wake-up "-" found
           there by the first waiter to queue woke nobody; that waiter deletes it
  KEYS[3]  waiter set redlua:lock:{<name>}:waiters: ZSET "<ttl ms>:<f|->:<token>" ->
           the waiter's deadline in server milliseconds; expires after the last deadline
  KEYS[4]  (optional) fencing counter redlua:lock:{<name>}:fence: INCR'd by every grant,
           never expires
  ARGV[1]  token: the new holder's random token
  ARGV[2]  ttl in milliseconds (an integer > 0)
  ARGV[3]  (optional) "0" or absent: one try; "1": the caller waits if the lock is busy
           (queue it, or renew its place); "2": the caller's last try (leave the queue)
  ARGV[4]  (optional) with "1": the longest the caller will wait before trying again, in
           milliseconds (an integer > 0); its place in the queue lasts that long (at most
           the holder's time left) plus 250 ms

  Returns  {1, fencing token (0 without KEYS[4])} when taken;
           {0, the holder's PTTL in milliseconds (-1: no expiry)} when busy.
  Errors   CORRUPT_DATA when the lock key is not a string, the waiter set not a ZSET or
           the fencing counter holds no integer of at most 18 digits (all checked before
           any write). INVALID_ARGUMENT when the wait (ARGV[4]) is not an integer > 0.
  Idempotent  no
]]
local lock, wake, waiters, fence = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token, ttl, mode = ARGV[1], ARGV[2], ARGV[3] or '0'
local queued = mode == '1' or mode == '2'
local member = ttl .. (fence and ':f:' or ':-:') .. token

-- checks first: nothing is written before they passed
if mode == '1' and not string.match(ARGV[4] or '', '^[1-9]%d?%d?%d?%d?%d?%d?%d?%d?$') then
  return redis.error_reply('INVALID_ARGUMENT wait must be an integer > 0 (ms), got "'
    .. string.sub(tostring(ARGV[4]), 1, 40) .. '"')
end
if fence then
  local seen = redis.pcall('GET', fence)
  if type(seen) == 'table' or (seen and not (string.match(seen, '^%d+$') and #seen <= 18)) then
    return redis.error_reply('CORRUPT_DATA ' .. fence .. ' holds no fencing counter')
  end
end
if redis.call('SET', lock, token, 'NX', 'PX', ttl) then -- free: the common case, cheap
  if queued then
    redis.pcall('ZREM', waiters, member) -- leave the queue; a foreign key is left alone
  end
  if not fence then
    return {1, 0}
  end
  return {1, redis.call('INCR', fence)}
end

-- busy, or a grant nobody picked up: every check before the first write
local kind = 'none'
if queued then
  kind = redis.call('TYPE', waiters)['ok']
  if kind ~= 'none' and kind ~= 'zset' then
    return redis.error_reply('CORRUPT_DATA ' .. waiters .. ' holds no waiter set')
  end
end
local held = redis.pcall('GET', lock)
if type(held) == 'table' then
  return redis.error_reply('CORRUPT_DATA ' .. lock .. ' holds no lock token')
end
local granted = nil -- the fencing token of a grant nobody picked up, taken over below
if held then
  local pending = redis.pcall('LINDEX', wake, 0)
  if type(pending) == 'string' then
    local owner, number = string.match(pending, '^(%S+) (%d+) ')
    if owner == held then
      granted = tonumber(number)
    end
  end
end

if held and not granted then -- busy
  local left = redis.call('PTTL', lock)
  if mode == '1' then
    local clock = redis.call('TIME')
    local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
    local span = tonumber(ARGV[4])
    if left >= 0 and left < span then
      span = left
    end
    if kind == 'none' then -- the first waiter: a wake-up ("-") left in the list woke nobody
      if redis.pcall('LINDEX', wake, 0) == '-' then
        redis.call('DEL', wake)
      end
    else
      redis.call('ZREMRANGEBYSCORE', waiters, '-inf', now)
    end
    redis.call('ZADD', waiters, now + span + 250, member)
    local last = redis.call('ZRANGE', waiters, -1, -1, 'WITHSCORES')
    redis.call('PEXPIRE', waiters, math.ceil(tonumber(last[2]) - now))
  elseif mode == '2' and kind == 'zset' then
    redis.call('ZREM', waiters, member)
  end
  return {0, left}
end

if granted then
  redis.call('DEL', wake)
end
redis.call('SET', lock, token, 'PX', ttl)
if kind == 'zset' then
  redis.call('ZREM', waiters, member)
end
if not fence then
  return {1, 0}
end
if granted and granted > 0 then
  return {1, granted}
end
return {1, redis.call('INCR', fence)}
