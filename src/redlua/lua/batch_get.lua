#!lua flags=no-writes
--[[
  Read many string keys at once.

  KEYS[1..n]  the keys

  Returns  the values in key order, nil for a missing key or one that holds no string.
  Errors   none.
  Idempotent  yes
]]
local out = {}
for i = 1, #KEYS do
  local value = redis.pcall('GET', KEYS[i])
  if type(value) == 'table' then
    value = false
  end
  out[i] = value
end
return out
