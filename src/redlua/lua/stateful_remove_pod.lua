--[[
  Forget one pod of a service: its state value, its metadata and its reservation count.

  KEYS[1]  state hash of the service, pod -> state value
  KEYS[2]  metadata hash in the same slot (<state key>meta)
  KEYS[3]  reservation hash in the same slot (<state key>links)
  ARGV[1]  pod: a StatefulSet ordinal in canonical decimal

  Returns  1 when the pod had a state value, else 0.
  Errors   INVALID_ARGUMENT when the pod is malformed; CORRUPT_DATA when one of the keys
           is not a hash. Nothing is written on an error.
  Idempotent  yes
]]
local pod = ARGV[1]
if #pod > 15 or not (pod == '0' or string.match(pod, '^[1-9]%d*$')) then
  return redis.error_reply('INVALID_ARGUMENT pod must be an integer >= 0, got "' .. pod .. '"')
end

--!include check_types

local bad = wrong_type(KEYS[1], 'hash', KEYS[2], 'hash', KEYS[3], 'hash')
if bad then return bad end
local removed = redis.call('HDEL', KEYS[1], pod)
redis.call('HDEL', KEYS[2], pod)
redis.call('HDEL', KEYS[3], pod)
return removed
