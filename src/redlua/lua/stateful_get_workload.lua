#!lua flags=no-writes
--[[
  Read a service's workload state (a string the Java and Go services SET and MGET).

  KEYS[1]  workload key of the service

  Returns  the value, or nil when there is none.
  Errors   none
  Idempotent  yes
]]
return redis.call('GET', KEYS[1])
