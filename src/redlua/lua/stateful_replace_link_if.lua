--[[
  Compare-and-set a UID's link: write the new pod only if the link still holds the
  expected one (or there is no link and "-1" is expected), keeping the UID hash in step
  and bumping the version (the repair of a link to a dead pod).

  KEYS[1]  link string sf:{<ns>:lk:<uid>}<svc>: the pod; no TTL = persistent link
  KEYS[2]  UID hash sf:{<ns>:lk:<uid>}: service -> pod, persistent links only
  KEYS[3]  the link's fencing version sf:{<ns>:lk:<uid>}<svc>#v
  ARGV[1]  service name (the field of KEYS[2])
  ARGV[2]  expected pod in canonical decimal, or "-1" for "no link now"
  ARGV[3]  new pod in canonical decimal
  ARGV[4]  ttl in seconds: -1 persistent, or an integer > 0 (temporary)

  Returns  {1, new pod} when replaced; {0, current pod or "-1"} when the link did not
           hold the expected value (nothing changed). The flag is an integer, the pod
           a string.
  Errors   INVALID_ARGUMENT when a pod is not canonical decimal, ttl is neither -1 nor a
           positive integer below 10^15 or the service is empty. CORRUPT_DATA when the
           version key holds no version number.
  Idempotent  no
]]
local link, hash, vkey = KEYS[1], KEYS[2], KEYS[3]
local svc, expected, pod, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got '
    .. string.sub(tostring(value), 1, 40))
end
local function canonical(s)
  return s == '0' or (s ~= nil and string.match(s, '^[1-9]%d*$') ~= nil)
end
if not svc or svc == '' then
  return invalid('service must not be empty', svc)
end
if not (expected == '-1' or canonical(expected)) then
  return invalid('expected pod must be -1 or canonical decimal', expected)
end
if not canonical(pod) then
  return invalid('new pod must be canonical decimal', pod)
end
local seconds = ttl and string.match(ttl, '^[1-9]%d*$')
if not (ttl == '-1' or (seconds and #seconds <= 15)) then
  return invalid('ttl must be -1 or an integer > 0', ttl)
end
local version = redis.call('GET', vkey)
if version and not (version == '0'
    or (string.match(version, '^[1-9]%d*$') and #version <= 18)) then
  return redis.error_reply('CORRUPT_DATA ' .. vkey .. ' holds no version number')
end

local cur = redis.call('GET', link) or '-1'
if cur ~= expected then
  return {0, cur}
end
if ttl == '-1' then -- the hash first: a hash of the wrong type fails before any write
  redis.call('HSET', hash, svc, pod)
  redis.call('SET', link, pod)
else
  redis.call('HDEL', hash, svc)
  redis.call('SET', link, pod, 'EX', ttl)
end
redis.call('INCR', vkey)
return {1, pod}
