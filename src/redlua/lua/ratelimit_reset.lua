#!lua flags=allow-oom
--[[
  Forget the rate limits of one request: delete their state keys, so the next hit finds
  every limit full. Deleting only frees memory, so this runs under maxmemory too.

  KEYS[1..n]  the state keys of the limits (one hash slot)

  Returns  the number of keys that existed and were deleted.
  Idempotent  yes
]]
local deleted = 0
for i = 1, #KEYS do
  deleted = deleted + redis.call('DEL', KEYS[i])
end
return deleted
