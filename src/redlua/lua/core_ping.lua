#!lua flags=no-writes
--[[
  Answer with who the server is and its clock, to check that scripting works.

  ARGV[1]  (optional) a payload to echo back, any bytes

  Returns  {server name ("redis" or "valkey"), server version ("unknown" before
           Redis 7), server time in milliseconds as a string, the payload or ""}.
  Errors   none
  Idempotent  yes
]]
local now = redis.call('TIME')
local name = redis.SERVER_NAME or 'redis'
local version = redis.VALKEY_VERSION or redis.REDIS_VERSION or "unknown"
local millis = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
return {name, version, millis, ARGV[1] or ''}
