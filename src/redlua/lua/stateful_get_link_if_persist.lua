#!lua flags=no-writes
--[[
  Read the pod a UID is linked to for one service, only if the link is persistent
  (statefulGetLinkIfPersist).

  KEYS[1]  link string sf:{<ns>:lk:<uid>}<svc>

  Returns  {pod} when the link exists without a TTL, else {"-1"} (string).
  Errors   none
  Idempotent  yes
]]
local pod = redis.call('GET', KEYS[1])
if pod and redis.call('TTL', KEYS[1]) == -1 then
  return {pod}
end
return {'-1'}
