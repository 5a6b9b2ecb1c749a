#!lua flags=allow-oom
--[[
  Void a pending hold: give its amount back to the source's available funds, once.

  KEYS[1]  held: HASH account id -> minor units reserved by pending holds
  KEYS[2]  pending holds: ZSET hold id -> deadline in server milliseconds
  KEYS[3]  finished holds: ZSET hold id -> when its record is purged, server milliseconds
  KEYS[4]  hold records: HASH hold id -> "state<TAB>src<TAB>dst<TAB>amount<TAB>deadline<TAB>created<TAB>result<TAB>memo"
  ARGV[1]  hold id: an integer >= 1
  ARGV[2]  finished-hold retention in ms: an integer > 0
  ARGV[3]  reaper batch: an integer >= 1, at most this many holds released or purged

  A pending hold leaves the source's held sum and its record turns "V" (or "E" when its
  deadline had passed: it expired before the void), kept ARGV[2] ms. A hold that was
  voided or expired already is returned as it is: voiding is idempotent. A void and a
  capture of one hold exclude each other. Other due holds are then released (the lazy
  reaper). The time is the server's (TIME).

  Returns  {hold id, record (see KEYS[4]), server time in ms, 1 when this call released
           the amount else 0}.
  Errors   INVALID_ARGUMENT for a malformed argument; HOLD_NOT_FOUND (never made, or
           purged); HOLD_NOT_PENDING when it was captured; CORRUPT_DATA when a record or
           held sum is not what these scripts write, or a key it writes has another
           type (checked before any write). Nothing is written on an error.
  Idempotent  yes
]]
local held, pending, finished, holds = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local hold, keep_ms, batch = ARGV[1], ARGV[2], ARGV[3]

--!include ledger_args

if not count(hold, 15) then return invalid('hold id must be an integer >= 1', hold) end
if not count(keep_ms, 15) then return invalid('retention must be > 0 (ms)', keep_ms) end
if not count(batch, 4) then return invalid('reaper batch must be 1 to 9999', batch) end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local record = redis.call('HGET', holds, hold)
if not record then
  return redis.error_reply('HOLD_NOT_FOUND hold ' .. hold .. ' does not exist (or was purged)')
end
local state, src, amount, deadline = string.match(record,
  '^(%u)\t([^\t]+)\t[^\t]+\t(%d+)\t(%d+)\t')
if not state then return redis.error_reply('CORRUPT_DATA hold record ' .. hold) end
if state == 'C' then
  return redis.error_reply('HOLD_NOT_PENDING hold ' .. hold .. ' was captured')
end
if state ~= 'P' then
  return {tonumber(hold), record, now, 0}
end

--!include ledger_reaper

local due, bad = due_holds(now, batch, hold)
if bad then return bad end
local src_held = redis.pcall('HGET', held, src)
bad = wrong_reply(held, src_held)
if bad then return bad end
if not (src_held and counter_ok(src_held)
    and tonumber(src_held) - freed(due, src) >= tonumber(amount)) then
  return redis.error_reply('CORRUPT_DATA the held sum of "' .. string.sub(src, 1, 64)
    .. '" is not an integer, or holds less than hold ' .. hold .. '; nothing was written')
end

local ended = (tonumber(deadline) <= now and 'E') or 'V'
record = ended .. string.sub(record, 2)
if redis.call('HINCRBY', held, src, '-' .. amount) == 0 then redis.call('HDEL', held, src) end
redis.call('HSET', holds, hold, record)
redis.call('ZREM', pending, hold)
redis.call('ZADD', finished, string.format('%d', now + tonumber(keep_ms)), hold)
reap(due, now, tonumber(keep_ms))
return {tonumber(hold), record, now, 1}
