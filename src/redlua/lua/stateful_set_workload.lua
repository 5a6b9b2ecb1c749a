--[[
  Write a service's workload state, without expiry, as the Go server driver does with SET.

  KEYS[1]  workload key of the service
  ARGV[1]  the value, written as given

  Returns  1.
  Errors   none
  Idempotent  yes
]]
redis.call('SET', KEYS[1], ARGV[1])
return 1
