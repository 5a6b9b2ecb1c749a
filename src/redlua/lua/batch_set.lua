--[[
  Set many string keys, each to its value, optionally with one expiry for all.

  KEYS[1..n]  the keys
  ARGV[1]  expiry in milliseconds for every key: an integer > 0, or "0" for none
  ARGV[2..n]  the values, one per key in key order

  Returns  the number of keys set.
  Errors   INVALID_ARGUMENT when the expiry is malformed or the values do not match
           the keys one to one (nothing is written).
  Idempotent  yes
]]
local px = ARGV[1]
if not string.match(px, '^%d+$') or #px > 15 then
  return redis.error_reply('INVALID_ARGUMENT px must be an integer >= 0 (ms), got "'
    .. string.sub(px, 1, 64) .. '"')
end
if #ARGV - 1 ~= #KEYS then
  return redis.error_reply('INVALID_ARGUMENT values must match the keys one to one, got '
    .. (#ARGV - 1) .. ' for ' .. #KEYS)
end
if px == '0' then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], ARGV[i + 1])
  end
else
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', px)
  end
end
return #KEYS
