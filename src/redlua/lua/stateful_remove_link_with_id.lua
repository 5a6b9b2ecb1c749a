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

--!include stateful_remove_link

if redis.call('GET', link) ~= pod then
  return {0}
end
local _, changed = remove()
if vkey and changed then
  redis.call('INCR', vkey)
end
return {1}
