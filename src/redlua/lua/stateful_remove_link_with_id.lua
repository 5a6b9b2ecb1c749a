--[[
  Remove a UID's link to a service only while it still names the given pod
  (statefulRemoveLinkWithId; string equality), with a grace period.

  KEYS[1]  link string sf:{<ns>:lk:<uid>}<svc>
  KEYS[2]  UID hash sf:{<ns>:lk:<uid>}: service -> pod, persistent links only
  KEYS[3]  (optional) the link's fencing version, INCR'd when anything was written
  ARGV[1]  service name (the field of KEYS[2])
  ARGV[2]  keepSeconds: an integer; -1 (the Java/Go "now"), 0 or less = now
  ARGV[3]  pod id the link must hold (compared as a string)
  ARGV[4]  (optional) mode: "grace" (default) or "exact"

  Returns  {1} when the link held the pod and was removed, else {0} and nothing
           changed (integers).
  Errors   INVALID_ARGUMENT when keepSeconds is not an integer (below 10^15 in
           magnitude) or the mode is unknown. CORRUPT_DATA when the version key holds
           no version number. Refused before any write.
  Idempotent  no

  Modes: "grace" (the default): keepSeconds > 0 leaves the link as a temporary link
  for at most keepSeconds (a shorter TTL is kept: removal never lengthens a link), out
  of the hash; keepSeconds <= 0 (-1 or 0) deletes it now. Mode "exact" reproduces the
  TPF script: DEL whatever keepSeconds says (its EXPIRE after DEL was a no-op).
]]
local link, hash, vkey = KEYS[1], KEYS[2], KEYS[3]
local svc, keep, pod, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4] or 'grace'

local function integer(s) -- an integer the server takes as a TTL, below 10^15 in magnitude
  local digits = s and string.match(s, '^%-?([1-9]%d*)$')
  return s == '0' or (digits ~= nil and #digits <= 15)
end
if not integer(keep) then
  return redis.error_reply('INVALID_ARGUMENT keepSeconds must be an integer, got '
    .. string.sub(tostring(keep), 1, 40))
end
if mode ~= 'grace' and mode ~= 'exact' then
  return redis.error_reply('INVALID_ARGUMENT mode must be "grace" or "exact", got '
    .. string.sub(tostring(mode), 1, 40))
end
if vkey then
  local v = redis.call('GET', vkey)
  if v and not (v == '0' or (string.match(v, '^[1-9]%d*$') and #v <= 18)) then
    return redis.error_reply('CORRUPT_DATA ' .. vkey .. ' holds no version number')
  end
end

-- Remove the link; HDEL goes first, so that a hash of the wrong type fails before any
-- write. Returns 1 when the link existed, and whether anything was written.
local function remove()
  local changed = redis.call('HDEL', hash, svc) == 1
  if mode == 'exact' then
    local n = redis.call('DEL', link)
    return n, changed or n == 1
  end
  local left = redis.call('PTTL', link)
  if left == -2 then
    return 0, changed
  end
  local seconds = tonumber(keep)
  if seconds <= 0 then
    redis.call('DEL', link)
    changed = true
  elseif left == -1 or left > seconds * 1000 then
    redis.call('EXPIRE', link, keep)
    changed = true
  end
  return 1, changed
end

if redis.call('GET', link) ~= pod then
  return {0}
end
local _, changed = remove()
if vkey and changed then
  redis.call('INCR', vkey)
end
return {1}
