--[[
  Confirm a pending reservation: its quantities move from reserved to sold, once.

  KEYS[1]  reserved: HASH product -> units held by pending reservations
  KEYS[2]  sold: HASH product -> units sold
  KEYS[3]  reservations: HASH reservation id -> record (JSON, written by these scripts)
  KEYS[4]  deadlines: ZSET pending reservation id -> deadline in server milliseconds
  KEYS[5]  settled: ZSET settled reservation id -> when its record is forgotten (ms)
  ARGV[1]  reservation id: 1 to 64 letters, digits, "_" or "-"
  ARGV[2]  keep in milliseconds: how long the settled record is remembered (integer > 0)

  The time is the server's (TIME). A reservation whose deadline is at or before now has
  expired, reaped or not: it cannot be confirmed (its stock goes back to the shelf by
  the reaper). Confirming a confirmed reservation again changes nothing and answers
  the same, so a re-sent call is safe. The first of a confirm and a cancel wins; the
  other gets RESERVATION_CLOSED.

  Returns  {1 when confirmed now or 0 when it was already, "confirmed",
           {product, quantity, ...}}.
  Errors   INVALID_ARGUMENT when an argument is malformed; RESERVATION_NOT_FOUND when no
           record exists (never made, or forgotten after its keep time);
           RESERVATION_CLOSED when it was cancelled or has expired; CORRUPT_DATA when the
           record, its items or the reserved and sold counts were not written by these
           scripts, or a key it writes has another type (all checked before any write).
  Idempotent  yes
]]
local reserved, sold, records, deadlines, settled = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, keep = ARGV[1], ARGV[2]

--!include check_types
--!include inventory_items

--!include inventory_settle

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local status = record.status
if status == 'reserved' and tonumber(record.deadline) <= now then
  status = 'expired'
end
if status == 'confirmed' then
  return {0, status, record.items}
end
if status ~= 'reserved' then
  return redis.error_reply('RESERVATION_CLOSED reservation ' .. id .. ' is ' .. tostring(status))
end
local counted = KEYS[2]  -- the hash inventory_pending checks beside `reserved`
--!include inventory_pending
local bad = check_pending('count')
if bad then return bad end

local stamp = string.format('%d', now)
for i = 1, #record.items, 2 do
  local product, qty = record.items[i], tonumber(record.items[i + 1])
  redis.call('HINCRBY', reserved, product, -qty)
  redis.call('HINCRBY', sold, product, qty)
end
record.status = 'confirmed'
record.settled = stamp
redis.call('HSET', records, id, cjson.encode(record))
redis.call('ZREM', deadlines, id)
redis.call('ZADD', settled, string.format('%d', now + tonumber(keep)), id)
return {1, 'confirmed', record.items}
