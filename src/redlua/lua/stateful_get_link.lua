#!lua flags=no-writes
--[[
  Read the pod a UID is linked to for one service, temporary or persistent (the
  statefulGetLink of the older Java framework; TPF callers do a plain GET).

  KEYS[1]  link string sf:{<ns>:lk:<uid>}<svc>

  Returns  {pod} or {"-1"} when there is no link (string).
  Errors   none
  Idempotent  yes
]]
return {redis.call('GET', KEYS[1]) or '-1'}
