#!lua flags=no-writes
--[[
  Read the fencing version of a link: how many writes redlua's scripts made to it.

  KEYS[1]  version string sf:{<ns>:lk:<uid>}<svc>#v

  Returns  {version} as a decimal string, {"0"} when the link was never written.
  Errors   none
  Idempotent  yes
]]
return {redis.call('GET', KEYS[1]) or '0'}
