#!lua flags=no-writes
--[[
  Read everything a view of one service's pods needs, with the server's clock.

  KEYS[1]  state hash of the service, pod -> "<load>-<epochMillis>"
  KEYS[2]  metadata hash in the same slot (<state key>meta), pod -> JSON object
  KEYS[3]  reservation hash in the same slot (<state key>links), pod -> links handed out

  Returns  {server time in milliseconds (integer), the state hash, the metadata hash,
           the reservation hash}, each hash flat as HGETALL gives it ({} when absent).
  Errors   none
  Idempotent  yes
]]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
return {
  now,
  redis.call('HGETALL', KEYS[1]),
  redis.call('HGETALL', KEYS[2]),
  redis.call('HGETALL', KEYS[3]),
}
