#!lua
--[[
  Take a lock if it is free (SET NX PX with the caller's random token) and, with a
  fencing counter, hand out the next fencing token in the same step. When the lock is
  busy, tell the caller how long the holder has left and, if the caller is going to
  wait, mark the holder's value (a trailing "+") so that its release wakes one waiter.

  KEYS[1]  lock string redlua:lock:{<name>}: the holder's token, "+" appended once a
           waiter is queued; expires after the holder's ttl
  KEYS[2]  (optional) fencing counter redlua:lock:{<name>}:fence: INCR'd by every grant,
           never expires
  ARGV[1]  token: the new holder's random token (never ends with "+")
  ARGV[2]  ttl in milliseconds (an integer > 0)
  ARGV[3]  (optional) "0" or absent: one try; "1": the caller waits if the lock is busy
           (mark the holder); "2": the caller waited already (mark the holder, and store
           its own value marked so that its release wakes the next waiter in turn)

  Returns  {1, fencing token (0 without KEYS[2])} when taken;
           {0, the holder's PTTL in milliseconds (-1: no expiry)} when busy.
  Errors   CORRUPT_DATA when the lock key is not a string or the fencing counter holds no
           integer of at most 18 digits (checked before any write).
  Idempotent  no
]]
local lock, token, mode = KEYS[1], ARGV[1], ARGV[3] or '0'
local value = token
if mode == '2' then
  value = token .. '+'
end
local fence = KEYS[2]
if fence then -- check the counter before writing anything
  local seen = redis.pcall('GET', fence)
  if type(seen) == 'table' or (seen and not (string.match(seen, '^%d+$') and #seen <= 18)) then
    return redis.error_reply('CORRUPT_DATA ' .. fence .. ' holds no fencing counter')
  end
end
if redis.call('SET', lock, value, 'NX', 'PX', ARGV[2]) then
  if not fence then
    return {1, 0}
  end
  return {1, redis.call('INCR', fence)}
end
local held = redis.pcall('GET', lock)
if type(held) ~= 'string' then
  return redis.error_reply('CORRUPT_DATA ' .. lock .. ' holds no lock token')
end
if mode ~= '0' and string.sub(held, -1) ~= '+' then -- the first waiter: the release wakes one
  redis.call('APPEND', lock, '+')
end
return {0, redis.call('PTTL', lock)}
