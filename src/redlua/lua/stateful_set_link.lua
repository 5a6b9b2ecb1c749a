--[[
  Link a UID to a pod for one service unconditionally (statefulSetLink of the Java/Go
  services: a force-set that may take over another pod's persistent link).

  KEYS[1]  link string sf:{<ns>:lk:<uid>}<svc>: the pod; no TTL = persistent link
  KEYS[2]  UID hash sf:{<ns>:lk:<uid>}: service -> pod, persistent links only
  KEYS[3]  (optional) the link's fencing version, INCR'd by every write (redlua)
  ARGV[1]  service name (the field of KEYS[2])
  ARGV[2]  pod id, stored as given (callers send canonical decimal)
  ARGV[3]  ttl in seconds: -1 persistent, > 0 temporary, 0 or < -1 written then deleted
           (-1 is any text tonumber() reads as -1: SET and HSET; another integer: SET,
           EXPIRE and HDEL, so 0 or a negative deletes the link at once, as the original)

  Returns  {previous pod} or {"-1"} when there was no link (strings).
  Errors   INVALID_ARGUMENT when ttl is neither -1 nor an integer the server takes as a
           TTL (|ttl| below 10^15): refused before any write, where the original failed
           halfway. CORRUPT_DATA when the version key holds no version number or the
           link holds no pod id (an integer). A key of the wrong type fails with the
           server's error before any write.
  Idempotent  no
]]
local link, hash, vkey = KEYS[1], KEYS[2], KEYS[3]
local svc, pod, ttl = ARGV[1], ARGV[2], ARGV[3]

--!include stateful_write_link

local prev = redis.call('GET', link)
if prev and not string.match(prev, '^%-?%d+$') then -- the reply names it: check before writing
  return redis.error_reply('CORRUPT_DATA ' .. link .. ' holds no pod id')
end
write()
return {prev or '-1'}
