--[[
  Delete a counter (it reads as 0 again, without expiry) and return the value it held.

  KEYS[1]  counter: a string holding a signed 64-bit integer; absent reads as 0

  No notification goes out: a reset is not a move across a threshold.

  Returns  the value before, as a decimal string ("0" when there was no counter).
  Errors   CORRUPT_DATA when the key holds anything but a 64-bit integer (it is not deleted).
  Idempotent  no
]]
local key = KEYS[1]

--!include counter_int64

local held = redis.pcall('GET', key)
if type(held) == 'table' or (held and not int64(held)) then
  return redis.error_reply('CORRUPT_DATA ' .. key .. ' holds no 64-bit integer counter')
end
if not held then
  return '0'
end
redis.call('DEL', key)
return held
