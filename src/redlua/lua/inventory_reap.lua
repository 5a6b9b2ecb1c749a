--[[
  Give back the stock of expired reservations and forget settled records past their keep
  time, a bounded number of each per call.

  KEYS[1]  stock: HASH product -> units available
  KEYS[2]  reserved: HASH product -> units held by pending reservations
  KEYS[3]  reservations: HASH reservation id -> record (JSON, written by these scripts)
  KEYS[4]  deadlines: ZSET pending reservation id -> deadline in server milliseconds
  KEYS[5]  settled: ZSET settled reservation id -> when its record is forgotten (ms)
  ARGV[1]  limit: at most this many reservations are reaped, and as many records
           forgotten (an integer from 1 to 1000)
  ARGV[2]  keep in milliseconds: how long an expired record is remembered (integer > 0)

  The time is the server's (TIME). A reservation whose deadline is at or before now
  expires: its quantities move from reserved back to stock, exactly once, since it
  leaves the deadline index in the same step; its record says "expired" until its keep
  time is over. inventory_reserve.lua runs the same reaping first on every call.

  Returns  {reaped, forgotten, expired reservations still waiting (over the limit)}.
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when an indexed
           reservation has no pending record, its items or the counts they move are not
           what these scripts write, or one of the keys has another type (all checked
           before any write).
  Idempotent  yes
]]
local stock, reserved, records, deadlines, settled = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local limit, keep = ARGV[1], ARGV[2]

local function positive(text, digits)
  return #text <= digits and string.match(text, '^[1-9]%d*$') ~= nil
end

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(value, 1, 64) .. '"')
end

if not positive(limit, 4) or tonumber(limit) > 1000 then
  return invalid('limit must be an integer from 1 to 1000', limit)
end
if not positive(keep, 15) then return invalid('keep must be an integer > 0 (ms)', keep) end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

--!include inventory_reaper

local reaped = reap(now, tonumber(limit), tonumber(keep))
if reaped.err then return reaped end
local waiting = redis.call('ZCOUNT', deadlines, '-inf', string.format('%d', now))
return {reaped[1], reaped[2], waiting}
