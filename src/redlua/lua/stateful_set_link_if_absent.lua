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

--!include stateful_write_link

local cur = redis.call('GET', link)
if cur then
  return {cur}
end
write()
return {pod}
