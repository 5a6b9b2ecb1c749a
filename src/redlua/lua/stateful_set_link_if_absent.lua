--[[
  Link a UID to a pod only when it has no link for the service (statefulSetLinkIfAbsent;
  an existing link, temporary or not, is returned as is, its TTL not refreshed).

  KEYS[1]  link string sf:{<ns>:lk:<uid>}<svc>: the pod; no TTL = persistent link
  KEYS[2]  UID hash sf:{<ns>:lk:<uid>}: service -> pod, persistent links only
  KEYS[3]  (optional) the link's fencing version, INCR'd by every write (redlua)
  ARGV[1]  service name (the field of KEYS[2])
  ARGV[2]  pod id, stored as given (callers send canonical decimal)
  ARGV[3]  ttl in seconds: -1 persistent, > 0 temporary, 0 or < -1 written then deleted
           (-1 is any text tonumber() reads as -1: SET and HSET; another integer: SET,
           EXPIRE and HDEL, so 0 or a negative deletes the link at once, as the original)

  Returns  {the pod actually linked}: the existing link, or ARGV[2] (string).
  Errors   INVALID_ARGUMENT when ttl is neither -1 nor an integer the server takes as a
           TTL (|ttl| below 10^15): refused before any write, where the original failed
           halfway. CORRUPT_DATA when the version key holds no version number. A key of
           the wrong type fails with the server's error before any write.
  Idempotent  yes (a second run finds the link the first one made)
]]
local link, hash, vkey = KEYS[1], KEYS[2], KEYS[3]
local svc, pod, ttl = ARGV[1], ARGV[2], ARGV[3]

local function integer(s) -- an integer EXPIRE accepts, below 10^15 in magnitude
  local digits = s and string.match(s, '^%-?([1-9]%d*)$')
  return s == '0' or (digits ~= nil and #digits <= 15)
end
local persistent = ttl ~= nil and tonumber(ttl) == -1
if not (persistent or integer(ttl)) then
  return redis.error_reply('INVALID_ARGUMENT ttl must be -1 or an integer of seconds, got '
    .. string.sub(tostring(ttl), 1, 40))
end
if vkey then
  local v = redis.call('GET', vkey)
  if v and not (v == '0' or (string.match(v, '^[1-9]%d*$') and #v <= 18)) then
    return redis.error_reply('CORRUPT_DATA ' .. vkey .. ' holds no version number')
  end
end

-- Write(pod, ttl) of the contract; the hash goes first, so that a hash of the wrong
-- type fails before anything is written.
local function write()
  if persistent then
    redis.call('HSET', hash, svc, pod)
    redis.call('SET', link, pod)
  else
    redis.call('HDEL', hash, svc)
    redis.call('SET', link, pod)
    redis.call('EXPIRE', link, ttl)
  end
  if vkey then
    redis.call('INCR', vkey)
  end
end

local cur = redis.call('GET', link)
if cur then
  return {cur}
end
write()
return {pod}
