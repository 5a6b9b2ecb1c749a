--[[
  Link a UID to a pod unless another pod holds a persistent link (statefulTrySetLink:
  temporary links and the pod's own link are taken over, even downgraded to temporary).

  KEYS[1]  link string sf:{<ns>:lk:<uid>}<svc>: the pod; no TTL = persistent link
  KEYS[2]  UID hash sf:{<ns>:lk:<uid>}: service -> pod, persistent links only
  KEYS[3]  (optional) the link's fencing version, INCR'd by every write (redlua)
  ARGV[1]  service name (the field of KEYS[2])
  ARGV[2]  pod id, stored as given (callers send canonical decimal)
  ARGV[3]  ttl in seconds: -1 persistent, > 0 temporary, 0 or < -1 written then deleted
           (-1 is any text tonumber() reads as -1: SET and HSET; another integer: SET,
           EXPIRE and HDEL, so 0 or a negative deletes the link at once, as the original)

  Returns  refused (another pod holds a persistent link): {owner}; linked where there
           was no link: {pod}; linked over a previous link (temporary, or the same
           pod's): {pod, previous}. Strings; success <=> reply[1] == pod.
  Errors   INVALID_ARGUMENT when ttl is neither -1 nor an integer the server takes as a
           TTL (|ttl| below 10^15): refused before any write, where the original failed
           halfway. CORRUPT_DATA when the version key holds no version number. A key of
           the wrong type fails with the server's error before any write.
  Idempotent  no
]]
local link, hash, vkey = KEYS[1], KEYS[2], KEYS[3]
local svc, pod, ttl = ARGV[1], ARGV[2], ARGV[3]

--!include stateful_write_link

local cur = redis.call('GET', link)
if cur and cur ~= pod and redis.call('TTL', link) == -1 then
  return {cur}
end
write()
if cur then
  return {pod, cur}
end
return {pod}
