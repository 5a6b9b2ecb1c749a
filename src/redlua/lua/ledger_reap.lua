--[[
  Release the pending holds of a ledger whose deadline has passed, and purge old records.

  KEYS[1]  held: HASH account id -> minor units reserved by pending holds
  KEYS[2]  pending holds: ZSET hold id -> deadline in server milliseconds
  KEYS[3]  finished holds: ZSET hold id -> when its record is purged, server milliseconds
  KEYS[4]  hold records: HASH hold id -> "state<TAB>src<TAB>dst<TAB>amount<TAB>deadline<TAB>created<TAB>result<TAB>memo"
  ARGV[1]  finished-hold retention in ms: an integer > 0
  ARGV[2]  batch: an integer >= 1, at most this many holds released and records purged

  The same reaper runs lazily inside the transfer, hold, capture, void, info and status
  scripts; this one runs it alone. Each due hold (deadline at or before the server's
  TIME) gives its amount back to its source's available funds exactly once: its record
  turns "E" (expired) and moves to the finished set, kept ARGV[1] ms.

  Returns  how many holds were released (an integer, at most ARGV[2]).
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when one of its
           keys has another type or a held sum is not an integer (checked before any
           write). Nothing is written on an error.
  Idempotent  yes
]]
local held, pending, finished, holds = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local keep_ms, batch = ARGV[1], ARGV[2]

if #keep_ms > 15 or not string.match(keep_ms, '^[1-9]%d*$') then
  return redis.error_reply('INVALID_ARGUMENT retention must be > 0 (ms), got "'
    .. string.sub(keep_ms, 1, 64) .. '"')
end
if #batch > 4 or not string.match(batch, '^[1-9]%d*$') then
  return redis.error_reply('INVALID_ARGUMENT batch must be 1 to 9999, got "'
    .. string.sub(batch, 1, 64) .. '"')
end

--!include ledger_reaper

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local due, bad = due_holds(now, batch)
if bad then return bad end
return reap(due, now, tonumber(keep_ms))
