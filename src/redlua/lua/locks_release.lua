#!lua flags=allow-oom
--[[
  Release a lock if the token holds it, and wake one waiter when one is queued. Runs
  under maxmemory (allow-oom): it only frees memory, bar one short-lived wake-up.

  KEYS[1]  lock string redlua:lock:{<name>}: the holder's token ("+" appended once a
           waiter is queued)
  KEYS[2]  wake-up list redlua:lock:{<name>}:wake: waiters BLPOP it; at most one element,
           gone 2 seconds after the last release that pushed it
  ARGV[1]  token of the caller

  Returns  1 when released.
  Errors   NOT_OWNER when the token does not hold the lock (free, expired, another
           owner's): nothing changed. CORRUPT_DATA when the lock key is not a string.
  Idempotent  no
]]
local lock, wake, token = KEYS[1], KEYS[2], ARGV[1]
local held = redis.pcall('GET', lock)
if held == token then -- nobody waits: the uncontended path
  redis.call('DEL', lock)
  return 1
end
if held == token .. '+' then
  local queued = redis.pcall('LLEN', wake) -- read before the write: a wrong type skips waking
  redis.call('DEL', lock)
  if type(queued) == 'number' then
    if queued == 0 then
      redis.call('RPUSH', wake, '1')
    end
    redis.call('PEXPIRE', wake, 2000)
  end
  return 1
end
if held and type(held) ~= 'string' then
  return redis.error_reply('CORRUPT_DATA ' .. lock .. ' holds no lock token')
end
return redis.error_reply('NOT_OWNER ' .. lock .. ' is not held by this token')
