#!lua flags=no-writes
--[[
  Tell whether a lock is held, for how long, and whether a token holds it.

  KEYS[1]  lock string redlua:lock:{<name>}: the holder's token
  ARGV[1]  (optional) token to compare with the holder's

  Returns  {PTTL in milliseconds (-2: free, -1: no expiry), 1 if ARGV[1] holds it else 0}.
  Errors   CORRUPT_DATA when the lock key is not a string.
  Idempotent  yes
]]
local lock, token = KEYS[1], ARGV[1]
local held = redis.pcall('GET', lock)
if not held then
  return {-2, 0}
end
if type(held) ~= 'string' then
  return redis.error_reply('CORRUPT_DATA ' .. lock .. ' holds no lock token')
end
local mine = 0
if token and held == token then
  mine = 1
end
return {redis.call('PTTL', lock), mine}
