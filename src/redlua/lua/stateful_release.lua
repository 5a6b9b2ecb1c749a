--[[
  Release a UID's link held by a pod, with a real grace period, and bump its version
  (RemoveLinkWithId with grace): a late release by a pod that lost the link does nothing.

  KEYS[1]  link string sf:{<ns>:lk:<uid>}<svc>: the pod; no TTL = persistent link
  KEYS[2]  UID hash sf:{<ns>:lk:<uid>}: service -> pod, persistent links only
  KEYS[3]  the link's fencing version sf:{<ns>:lk:<uid>}<svc>#v
  ARGV[1]  service name (the field of KEYS[2])
  ARGV[2]  pod id in canonical decimal, the pod releasing
  ARGV[3]  grace seconds: -1 or 0 removes now; > 0 leaves a temporary link for at most
           that long (a shorter TTL is kept: release never lengthens a link)

  Returns  {1, version after the INCR} when the link held the pod and was released, else
           {0, current version} ("0" when never written) and nothing changed. The flag
           is an integer, the version a string.
  Errors   INVALID_ARGUMENT when the pod is not canonical decimal, grace is not an
           integer >= -1 below 10^15 or the service is empty. CORRUPT_DATA when the
           version key holds no version number.
  Idempotent  no
]]
local link, hash, vkey = KEYS[1], KEYS[2], KEYS[3]
local svc, pod, grace = ARGV[1], ARGV[2], ARGV[3]

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got '
    .. string.sub(tostring(value), 1, 40))
end
if not svc or svc == '' then
  return invalid('service must not be empty', svc)
end
if not (pod == '0' or (pod and string.match(pod, '^[1-9]%d*$'))) then
  return invalid('pod must be canonical decimal', pod)
end
local seconds = grace and string.match(grace, '^[1-9]%d*$')
if not (grace == '-1' or grace == '0' or (seconds and #seconds <= 15)) then
  return invalid('grace must be -1, 0 or an integer > 0', grace)
end
local version = redis.call('GET', vkey) or '0'
if not (version == '0' or (string.match(version, '^[1-9]%d*$') and #version <= 18)) then
  return redis.error_reply('CORRUPT_DATA ' .. vkey .. ' holds no version number')
end

if redis.call('GET', link) ~= pod then
  return {0, version}
end
redis.call('HDEL', hash, svc) -- first: a hash of the wrong type fails before any write
if seconds then
  local left = redis.call('PTTL', link)
  if left == -1 or left > tonumber(seconds) * 1000 then
    redis.call('EXPIRE', link, seconds)
  end
else
  redis.call('DEL', link)
end
return {1, string.format('%d', redis.call('INCR', vkey))}
