--[[
  Write one pod's raw state value, as Java and Go host code does with HSET.

  KEYS[1]  state hash of the service, pod -> state value
  ARGV[1]  pod: a StatefulSet ordinal in canonical decimal
  ARGV[2]  the state value, e.g. "<load>-<epochMillis>", written as given

  Returns  1 when the pod had no value before, else 0.
  Errors   INVALID_ARGUMENT when the pod is malformed (nothing is written).
  Idempotent  yes
]]
local pod = ARGV[1]
if #pod > 15 or not (pod == '0' or string.match(pod, '^[1-9]%d*$')) then
  return redis.error_reply('INVALID_ARGUMENT pod must be an integer >= 0, got "' .. pod .. '"')
end
return redis.call('HSET', KEYS[1], pod, ARGV[2])
