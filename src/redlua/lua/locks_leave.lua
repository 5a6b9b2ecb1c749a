#!lua flags=allow-oom
--[[
  Take a waiter out of a lock's queue when it stops waiting (cancelled, interrupted, a
  lost reply), and free a grant that no waiter received if no live waiter is left to
  take it. Runs under maxmemory (allow-oom): it only frees memory.

  KEYS[1]  lock string redlua:lock:{<name>}: the holder's token
  KEYS[2]  grant list redlua:lock:{<name>}:wake: "<token> <fence> <ttl ms>" of a grant
           no waiter has popped yet
  KEYS[3]  waiter set redlua:lock:{<name>}:waiters: ZSET of "<ttl ms>:<f|->:<token>" ->
           deadline in server milliseconds
  ARGV[1]  the waiter's entry in the waiter set

  Returns  1 when a grant nobody received was freed, else 0.
  Errors   none: keys of other types are left alone.
  Idempotent  yes
]]
local lock, wake, waiters, entry = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
if redis.call('TYPE', waiters)['ok'] == 'zset' then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  redis.call('ZREM', waiters, entry)
  redis.call('ZREMRANGEBYSCORE', waiters, '-inf', now)
  if redis.call('ZCARD', waiters) > 0 then
    return 0
  end
end
local held = redis.pcall('GET', lock)
local pending = redis.pcall('LINDEX', wake, 0)
if type(held) == 'string' and type(pending) == 'string'
    and string.match(pending, '^(%S+) ') == held then
  redis.call('DEL', lock, wake)
  return 1
end
return 0
