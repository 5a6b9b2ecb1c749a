#!lua flags=no-writes
--[[
  List the services where a UID holds a persistent link (statefulGetLinkService).

  KEYS[1]  UID hash sf:{<ns>:lk:<uid>}: service -> pod, persistent links only

  Returns  the hash flat as HGETALL gives it: {svc1, pod1, svc2, pod2, ...} (strings),
           {} when the UID has no persistent link.
  Errors   none
  Idempotent  yes
]]
return redis.call('HGETALL', KEYS[1])
