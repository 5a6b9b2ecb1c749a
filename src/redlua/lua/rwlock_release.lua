--[[
  Release a read-write lock held for reading or writing, or withdraw a writer's intent.

  KEYS[1..5]  readers (ZSET), writer (STRING), intent (STRING), readers' and writers'
              wake lists (LIST) of one lock, in one slot (see lua/lib/rwlock_base.lua)
  ARGV[1]  mode: "read", "write" or "intent" (a writer that stops waiting)
  ARGV[2]  holder id: 1 to 64 letters, digits, "_" or "-"
  ARGV[3]  wake list lifetime in milliseconds: an integer > 0 (at most 9 digits)

  Only the holder's own id is removed; an expired or unknown id changes nothing. When the
  writer or the last reader leaves, one waiting writer is woken if a writer waits (an
  intent), else one waiting reader; a withdrawn intent wakes one waiting reader. A woken
  reader that gets in wakes the next. The readers' set is deleted with its last reader.

  Returns  1 when the id held (and now does not), else 0.
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when a key holds
           another type (nothing is written in either case).
  Idempotent  yes
]]
--!include check_types
--!include rwlock_base

local mode, id, wake_ms = ARGV[1], ARGV[2], ARGV[3]
local bad = rw_check(mode, {'"read", "write" or "intent"', read = true, write = true,
  intent = true}, id)
if bad then return bad end
if not rw_positive(wake_ms, 9) then
  return rw_invalid('wake lifetime must be an integer > 0 (ms)', wake_ms)
end

local now = rw_now()
if mode == 'write' or mode == 'intent' then
  local i = mode == 'write' and 2 or 3 -- KEYS[2] the writer, KEYS[3] the intent
  if redis.call('GET', KEYS[i]) ~= id then return 0 end
  redis.call('DEL', KEYS[i])
  rw_wake_next(wake_ms)
  return 1
end
local score = redis.call('ZSCORE', rw_readers, id)
if not score or tonumber(score) <= now then return 0 end
redis.call('ZREM', rw_readers, id)
redis.call('ZREMRANGEBYSCORE', rw_readers, '-inf', string.format('%d', now))
if redis.call('ZCARD', rw_readers) == 0 then
  rw_wake_next(wake_ms)
else
  rw_keep_readers(now)
end
return 1
