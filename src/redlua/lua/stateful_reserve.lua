--[[
  Count links handed out to a pod since its last heartbeat (its next load figure includes them).

  KEYS[1]  reservation hash of the service (<state key>links), pod -> count
  ARGV[1]  pod: a StatefulSet ordinal in canonical decimal
  ARGV[2]  how many links to add: an integer, negative to give reservations back
  ARGV[3]  time to live of the whole hash in milliseconds, an integer > 0, renewed by
           each call, so counts of pods that stopped beating do not stay forever

  A count that would drop to 0 or below is deleted. The pod's heartbeat deletes its count.

  Returns  the pod's new count (integer >= 0).
  Errors   INVALID_ARGUMENT when an argument is malformed (nothing is written).
  Idempotent  no
]]
local pod, n, ttl = ARGV[1], ARGV[2], ARGV[3]
if #pod > 15 or not (pod == '0' or string.match(pod, '^[1-9]%d*$')) then
  return redis.error_reply('INVALID_ARGUMENT pod must be an integer >= 0, got "' .. pod .. '"')
end
if #n > 15 or not string.match(n, '^-?%d+$') then
  return redis.error_reply('INVALID_ARGUMENT n must be an integer, got "' .. n .. '"')
end
if #ttl > 15 or not string.match(ttl, '^[1-9]%d*$') then
  return redis.error_reply('INVALID_ARGUMENT ttl must be an integer > 0, got "' .. ttl .. '"')
end
local count = redis.call('HINCRBY', KEYS[1], pod, n)
if count <= 0 then
  redis.call('HDEL', KEYS[1], pod)
  count = 0
end
redis.call('PEXPIRE', KEYS[1], ttl)
return count
