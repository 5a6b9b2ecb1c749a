#!lua flags=no-writes
--[[
  Read a fenced resource and the last fencing token seen for it.

  KEYS[1]  the resource: a string key
  KEYS[2]  the last fencing token seen for the resource: "<fence>" or "<fence> <holder>"

  Returns  {value or false, the last token seen as a decimal string, "0" for none}.
  Errors   none
  Idempotent  yes
]]
local seen = redis.call('GET', KEYS[2]) or '0'
return {redis.call('GET', KEYS[1]), string.match(seen, '^(%S*)')}
