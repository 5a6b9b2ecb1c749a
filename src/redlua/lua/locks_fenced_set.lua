#!lua
--[[
  Write a value only if the writer's fencing token is at least the last one seen for
  that resource, and remember the token: a lock holder that paused past its lease (and
  lost the lock to a newer holder) can no longer overwrite the newer holder's data.

  KEYS[1]  the resource: a string key, overwritten
  KEYS[2]  the last fencing token seen for the resource (a decimal string, never expires)
  ARGV[1]  value to write
  ARGV[2]  fencing token of the writer (canonical decimal, at most 19 digits)
  ARGV[3]  (optional) ttl of the resource in milliseconds (an integer > 0); absent: none

  Returns  {1, token} when written; {0, the newer token seen} when refused (nothing
           changed). Tokens are decimal strings.
  Errors   INVALID_ARGUMENT when the token or the ttl is malformed. CORRUPT_DATA when the
           fence key holds no token.
  Idempotent  no (re-run after a newer write, a lost reply would read as a refusal)
]]
local resource, seen_key = KEYS[1], KEYS[2]
local value, token, ttl = ARGV[1], ARGV[2], ARGV[3]

local function decimal(text, longest)
  return text == '0' or (string.match(text, '^[1-9]%d*$') ~= nil and #text <= longest)
end
local function invalid(what, got)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got '
    .. string.sub(tostring(got), 1, 40))
end
if not (token and decimal(token, 19)) then
  return invalid('token must be an integer >= 0 in canonical decimal', token)
end
if ttl and not (ttl ~= '0' and decimal(ttl, 15)) then
  return invalid('ttl must be an integer > 0 of milliseconds', ttl)
end
local seen = redis.pcall('GET', seen_key)
if seen and not (type(seen) == 'string' and decimal(seen, 19)) then
  return redis.error_reply('CORRUPT_DATA ' .. seen_key .. ' holds no fencing token')
end
if seen and (#token < #seen or (#token == #seen and token < seen)) then
  return {0, seen}
end
if ttl then
  redis.call('SET', resource, value, 'PX', ttl)
else
  redis.call('SET', resource, value)
end
if seen ~= token then
  redis.call('SET', seen_key, token)
end
return {1, token}
