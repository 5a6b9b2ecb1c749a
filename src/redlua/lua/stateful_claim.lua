--[[
  Claim a UID's link for a pod and return a fencing token: TrySetLink semantics (another
  pod's persistent link is never taken, temporary links are) plus a version bump.

  KEYS[1]  link string sf:{<ns>:lk:<uid>}<svc>: the pod; no TTL = persistent link
  KEYS[2]  UID hash sf:{<ns>:lk:<uid>}: service -> pod, persistent links only
  KEYS[3]  the link's fencing version sf:{<ns>:lk:<uid>}<svc>#v
  ARGV[1]  service name (the field of KEYS[2])
  ARGV[2]  pod id in canonical decimal ("0", "3", never "03")
  ARGV[3]  ttl in seconds: -1 persistent, or an integer > 0 (temporary)
  ARGV[4]  (optional) "1": a pod re-claiming its own persistent link keeps it persistent
           whatever ttl says (no downgrade); "0" or absent: TrySetLink semantics

  Returns  {owner, previous link or "-1", version} (strings). Claimed (owner == ARGV[2]):
           version is the token after this write's INCR; refused: "-1" and the current
           version, "0" when the link was never written.
  Errors   INVALID_ARGUMENT when the pod is not canonical decimal, ttl is neither -1 nor
           a positive integer below 10^15, the service is empty or the no-downgrade flag is
           neither "0" nor "1".
           CORRUPT_DATA when the version key holds no version number.
  Idempotent  no
]]
local link, hash, vkey = KEYS[1], KEYS[2], KEYS[3]
local svc, pod, ttl, keep_persistent = ARGV[1], ARGV[2], ARGV[3], ARGV[4] or '0'

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
local seconds = ttl and string.match(ttl, '^[1-9]%d*$')
if not (ttl == '-1' or (seconds and #seconds <= 15)) then
  return invalid('ttl must be -1 or an integer > 0', ttl)
end
if keep_persistent ~= '0' and keep_persistent ~= '1' then
  return invalid('no-downgrade flag must be "0" or "1"', keep_persistent)
end
local version = redis.call('GET', vkey) or '0'
if not (version == '0' or (string.match(version, '^[1-9]%d*$') and #version <= 18)) then
  return redis.error_reply('CORRUPT_DATA ' .. vkey .. ' holds no version number')
end

local cur = redis.call('GET', link)
local cur_persistent = cur ~= nil and redis.call('TTL', link) == -1
if cur and cur ~= pod and cur_persistent then
  return {cur, '-1', version}
end
if keep_persistent == '1' and cur == pod and cur_persistent then
  ttl = '-1'
end
if ttl == '-1' then -- the hash first: a hash of the wrong type fails before any write
  redis.call('HSET', hash, svc, pod)
  redis.call('SET', link, pod)
else
  redis.call('HDEL', hash, svc)
  redis.call('SET', link, pod, 'EX', ttl)
end
return {pod, cur or '-1', string.format('%d', redis.call('INCR', vkey))}
