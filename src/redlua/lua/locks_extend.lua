#!lua flags=allow-oom
--[[
  Extend a lock the token holds: add milliseconds to its remaining time, or set it.
  Runs under maxmemory (allow-oom): it allocates nothing.

  KEYS[1]  lock string redlua:lock:{<name>}: the holder's token
  ARGV[1]  token of the caller
  ARGV[2]  milliseconds (an integer > 0, at most 15 digits)
  ARGV[3]  (optional) "1": set the remaining time to ARGV[2]; "0" or absent: add ARGV[2]
           to it

  Returns  the lock's new remaining time in milliseconds.
  Errors   INVALID_ARGUMENT when the milliseconds are not an integer > 0 or the mode is
           neither "0" nor "1". NOT_OWNER when the token does not hold the lock: nothing
           changed. CORRUPT_DATA when the lock key is not a string.
  Idempotent  no
]]
local lock, token, ms, replace = KEYS[1], ARGV[1], ARGV[2], ARGV[3] or '0'
local digits = ms and string.match(ms, '^[1-9]%d*$')
if not (digits and #digits <= 15) then
  return redis.error_reply('INVALID_ARGUMENT milliseconds must be an integer > 0, got '
    .. string.sub(tostring(ms), 1, 40))
end
if replace ~= '0' and replace ~= '1' then
  return redis.error_reply('INVALID_ARGUMENT mode must be "0" or "1", got '
    .. string.sub(tostring(replace), 1, 40))
end
local held = redis.pcall('GET', lock)
if held ~= token then
  if held and type(held) ~= 'string' then
    return redis.error_reply('CORRUPT_DATA ' .. lock .. ' holds no lock token')
  end
  return redis.error_reply('NOT_OWNER ' .. lock .. ' is not held by this token')
end
local total = tonumber(ms)
if replace == '0' then
  local left = redis.call('PTTL', lock)
  if left > 0 then
    total = total + left
  end
end
redis.call('PEXPIRE', lock, string.format('%d', total))
return total
