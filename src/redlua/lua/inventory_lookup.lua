#!lua flags=no-writes
--[[
  Read one reservation's record and the server's time.

  KEYS[1]  reservations: HASH reservation id -> record (JSON, written by these scripts)
  ARGV[1]  reservation id

  The caller compares a pending record's deadline with the time returned: at or after
  it, the reservation has expired (the reaper returns its stock).

  Returns  {server time in ms, the record's JSON text or false when there is none}.
  Errors   none.
  Idempotent  yes
]]
local records = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
return {now, redis.call('HGET', records, ARGV[1])}
