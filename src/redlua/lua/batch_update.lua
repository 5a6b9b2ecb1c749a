--[[
  Set every key to its value, or none: all or nothing, checked before the first write.

  KEYS[1..n]  the keys, all in one hash slot
  ARGV[1]  "1" when every key must exist already, "0" to create missing ones
  ARGV[2..n]  the new values, one per key in key order

  A key holding another type than a string is never overwritten. An existing key keeps
  its time to live (SET ... KEEPTTL); a created one has none.

  Returns  {1} when every key was set; {0, index, ...} when nothing was written because
           the keys at those 1-based indexes do not exist (with ARGV[1] "1").
  Errors   INVALID_ARGUMENT when ARGV[1] is malformed or the values do not match the keys
           one to one; WRONGTYPE when a key holds another type than a string (nothing is
           written).
  Idempotent  yes
]]
local strict = ARGV[1]
if strict ~= '0' and strict ~= '1' then
  return redis.error_reply('INVALID_ARGUMENT require_existing must be "0" or "1", got "'
    .. string.sub(strict, 1, 64) .. '"')
end
if #ARGV - 1 ~= #KEYS then
  return redis.error_reply('INVALID_ARGUMENT values must match the keys one to one, got '
    .. (#ARGV - 1) .. ' for ' .. #KEYS)
end

local missing = {0}
for i = 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i])
  kind = kind.ok or kind
  if kind == 'none' then
    missing[#missing + 1] = i
  elseif kind ~= 'string' then
    return redis.error_reply('WRONGTYPE key "' .. KEYS[i] .. '" holds a ' .. kind
      .. ', not a string; nothing was written')
  end
end
if strict == '1' and #missing > 1 then
  return missing
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'KEEPTTL')
end
return {1}
