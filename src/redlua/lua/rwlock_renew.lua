--[[
  Extend a read or write hold of a read-write lock to now + ttl, if the id still holds.

  KEYS[1..5]  readers (ZSET), writer (STRING), intent (STRING), readers' and writers'
              wake lists (LIST) of one lock, in one slot (see lua/lib/rwlock_base.lua)
  ARGV[1]  mode: "read" or "write"
  ARGV[2]  holder id: 1 to 64 letters, digits, "_" or "-"
  ARGV[3]  ttl in milliseconds: an integer > 0 (at most 15 digits)

  The time is the server's (TIME). An expired hold is not brought back.

  Returns  the new expiry in ms when the id held, else 0.
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when a key holds
           another type (nothing is written in either case).
  Idempotent  yes
]]
--!include check_types
--!include rwlock_base

local mode, id, ttl = ARGV[1], ARGV[2], ARGV[3]
local bad = rw_check(mode, {'"read" or "write"', read = true, write = true}, id)
if bad then return bad end
if not rw_positive(ttl, 15) then return rw_invalid('ttl must be an integer > 0 (ms)', ttl) end

local now = rw_now()
local expiry = now + tonumber(ttl)
if mode == 'write' then
  if redis.call('GET', rw_writer) ~= id then return 0 end
  redis.call('PEXPIRE', rw_writer, ttl)
  return expiry
end
local score = redis.call('ZSCORE', rw_readers, id)
if not score or tonumber(score) <= now then return 0 end
redis.call('ZADD', rw_readers, 'XX', string.format('%d', expiry), id)
rw_keep_readers(now)
return expiry
