#!lua
--[[
  Write a value only if the writer's fencing token is at least the last one seen for
  that resource, and remember the token: a lock holder that paused past its lease (and
  lost the lock to a newer holder) can no longer overwrite the newer holder's data.
  With the holder's lock token, the resource also refuses a second writer under the
  same fencing token: a failover that lost a grant (and its INCR) hands the same fence
  to two holders, and only the first to write keeps it.

  KEYS[1]  the resource: a string key, overwritten
  KEYS[2]  the last fencing token seen for the resource: "<fence>" or "<fence> <holder>"
           (never expires)
  ARGV[1]  value to write
  ARGV[2]  fencing token of the writer (canonical decimal, at most 19 digits)
  ARGV[3]  (optional) ttl of the resource in milliseconds (an integer > 0); absent or
           empty: none
  ARGV[4]  (optional) the writer's lock token (no spaces): an equal fence written by
           another holder is refused

  Returns  {1, token} when written; {0, the token seen} when refused (nothing changed).
           Tokens are decimal strings.
  Errors   INVALID_ARGUMENT when the token, the ttl or the holder is malformed.
           CORRUPT_DATA when the fence key holds no token.
  Idempotent  no (re-run after a newer write, a lost reply would read as a refusal)
]]
local resource, seen_key = KEYS[1], KEYS[2]
local value, token, ttl, holder = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if ttl == '' then ttl = nil end

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
if holder and not string.match(holder, '^[^%s%c]+$') then
  return invalid('holder must be a lock token without spaces', holder)
end
local stored = redis.pcall('GET', seen_key)
local seen, seen_holder = nil, nil
if stored then
  if type(stored) == 'string' then
    seen, seen_holder = string.match(stored, '^(%d+) ?(%S*)$')
  end
  if not (seen and decimal(seen, 19)) then
    return redis.error_reply('CORRUPT_DATA ' .. seen_key .. ' holds no fencing token')
  end
end
if seen and (#token < #seen or (#token == #seen and token < seen)) then
  return {0, seen}
end
if seen == token and holder and seen_holder ~= '' and seen_holder ~= holder then
  return {0, seen} -- the same fence granted twice (a lost grant): the first writer keeps it
end
if ttl then
  redis.call('SET', resource, value, 'PX', ttl)
else
  redis.call('SET', resource, value)
end
local mark = holder and (token .. ' ' .. holder) or token
if stored ~= mark then
  redis.call('SET', seen_key, mark)
end
return {1, token}
