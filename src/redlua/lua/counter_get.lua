#!lua flags=no-writes
--[[
  Read counters (one or many in one slot) without changing them.

  KEYS[1..n]  counters: strings holding signed 64-bit integers; absent reads as 0

  Returns  one value per key, in order, each a decimal string ("0" for an absent counter).
  Errors   CORRUPT_DATA when a key holds anything but a 64-bit integer.
  Idempotent  yes
]]

--!include counter_int64

local values = {}
for i = 1, #KEYS do
  local held = redis.pcall('GET', KEYS[i])
  if type(held) == 'table' or (held and not int64(held)) then
    return redis.error_reply('CORRUPT_DATA ' .. KEYS[i] .. ' holds no 64-bit integer counter')
  end
  values[i] = held or '0'
end
return values
