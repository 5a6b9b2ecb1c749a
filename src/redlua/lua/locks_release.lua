#!lua flags=allow-oom
--[[
  Release a lock if the token holds it. When waiters are queued (locks_acquire), wake
  one: by default (not fair) the lock is freed and the wake list gets "-", so the waiter
  blocked longest on BLPOP tries again (and anyone may take the lock first). A fair
  release gives the lock straight to that waiter instead: the lock gets a fresh token
  and the grant "<token> <fence> <ttl ms>" goes to the wake list, so the waiter holds
  the lock without another round trip and nobody barges in. A grant that no blocked
  waiter receives stays in the list for the next acquire to take. Runs under maxmemory
  (allow-oom): it frees memory, bar the short wake-up.

  KEYS[1]  lock string redlua:lock:{<name>}: the holder's token
  KEYS[2]  wake list redlua:lock:{<name>}:wake: holds the latest grant (expires with it)
           or "-" (a wake-up without a grant, gone after 2 seconds)
  KEYS[3]  waiter set redlua:lock:{<name>}:waiters: ZSET "<ttl ms>:<f|->:<token>" ->
           deadline in server milliseconds; waiters past their deadline are dropped
  KEYS[4]  (optional) fencing counter redlua:lock:{<name>}:fence: INCR'd for the grant
           when it exists or a waiter asked for fencing ("f")
  ARGV[1]  token of the caller
  ARGV[2]  (optional) the caller's own entry in the waiter set, dropped (a holder that
           got its lock by a grant leaves the queue here); empty: none
  ARGV[3]  (optional) "1": fair (grant the lock to a waiter); "0" or absent: free it and
           wake a waiter

  Returns  1 when released and freed (a waiter woken if one is queued); 2 when released
           and granted to a waiter (fair; for the longest ttl among the queued waiters).
  Errors   NOT_OWNER when the token does not hold the lock (free, expired, another
           owner's): nothing changed. CORRUPT_DATA when the lock key is not a string or
           the fencing counter holds no integer of at most 18 digits (checked before
           any write).
  Idempotent  no
]]
local lock, wake, waiters, fence = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token, own, fair = ARGV[1], ARGV[2], ARGV[3] == '1'
if own == '' then own = nil end
local held = redis.pcall('GET', lock)
if held ~= token then
  if type(held) == 'table' then
    return redis.error_reply('CORRUPT_DATA ' .. lock .. ' holds no lock token')
  end
  return redis.error_reply('NOT_OWNER ' .. lock .. ' is not held by this token')
end
if redis.call('TYPE', waiters)['ok'] ~= 'zset' then -- nobody waits: the uncontended path
  redis.call('DEL', lock)
  return 1
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl, fenced = 0, false
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', waiters, '(' .. now, '+inf')) do
  if entry ~= own then
    local ms, flag = string.match(entry, '^(%d+):([f-]):')
    if ms and tonumber(ms) > ttl then
      ttl = tonumber(ms)
    end
    fenced = fenced or flag == 'f'
  end
end
if ttl > 0 and fence and fair then
  local seen = redis.pcall('GET', fence)
  if type(seen) == 'table' or (seen and not (string.match(seen, '^%d+$') and #seen <= 18)) then
    return redis.error_reply('CORRUPT_DATA ' .. fence .. ' holds no fencing counter')
  end
  fenced = fenced or seen ~= false
end

if own then
  redis.call('ZREM', waiters, own)
end
redis.call('ZREMRANGEBYSCORE', waiters, '-inf', now)
if ttl == 0 then
  redis.call('DEL', lock)
  return 1
end
if not fair then -- free it, and wake the waiter blocked longest to try again
  redis.call('DEL', lock, wake)
  redis.call('RPUSH', wake, '-')
  redis.call('PEXPIRE', wake, 2000)
  return 1
end
local heir = redis.sha1hex(token .. ':' .. clock[1] .. '.' .. clock[2])
local number = 0
if fenced and fence then
  number = redis.call('INCR', fence)
end
redis.call('SET', lock, heir, 'PX', ttl)
redis.call('DEL', wake)
redis.call('RPUSH', wake, heir .. ' ' .. number .. ' ' .. ttl)
redis.call('PEXPIRE', wake, ttl)
return 2
