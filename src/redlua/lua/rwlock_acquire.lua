--[[
  Take a read-write lock for reading (shared) or for writing (exclusive), if free for it.

  KEYS[1..5]  readers (ZSET), writer (STRING), intent (STRING), readers' and writers'
              wake lists (LIST) of one lock, in one slot (see lua/lib/rwlock_base.lua)
  ARGV[1]  mode: "read" or "write"
  ARGV[2]  holder id: 1 to 64 letters, digits, "_" or "-" (a fresh one per acquisition)
  ARGV[3]  ttl in milliseconds: an integer > 0 (at most 15 digits)
  ARGV[4]  "1" when the caller was just woken from the wake list, else "0"
  ARGV[5]  wake list lifetime in milliseconds: an integer > 0 (at most 9 digits)
  ARGV[6]  intent lifetime in milliseconds: an integer > 0 (at most 9 digits)

  The time is the server's (TIME). A reader gets in when no writer holds the lock and no
  writer waits (an intent); a writer when nobody holds it. A writer kept out leaves its
  intent (for ARGV[6] ms, renewed by each attempt) unless another writer's is there, so
  readers arriving after it wait behind it. Readers whose expiry is at or before now are
  dropped first. A holder id that already holds in that mode is granted again with a
  fresh expiry, so a re-sent call never takes the lock twice. A woken reader that gets
  in wakes one more waiting reader (readers share).

  Returns  {1, expiry in ms, readers holding} when granted (0 readers for a writer), else
           {0, ms until the lock may change (a holder or intent expires), 0}; integers.
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when a key holds
           another type (nothing is written in either case).
  Idempotent  yes
]]
--!include check_types
--!include rwlock_base

local mode, id, ttl, woken, wake_ms, intent_ms =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local bad = rw_check(mode, {'"read" or "write"', read = true, write = true}, id)
if bad then return bad end
if not rw_positive(ttl, 15) then return rw_invalid('ttl must be an integer > 0 (ms)', ttl) end
if woken ~= '0' and woken ~= '1' then return rw_invalid('woken must be 0 or 1', woken) end
if not rw_positive(wake_ms, 9) then
  return rw_invalid('wake lifetime must be an integer > 0 (ms)', wake_ms)
end
if not rw_positive(intent_ms, 9) then
  return rw_invalid('intent lifetime must be an integer > 0 (ms)', intent_ms)
end

local now = rw_now()
local stamp = string.format('%d', now)
local after = '(' .. stamp
local held = redis.call('ZCOUNT', rw_readers, after, '+inf')
local writer = redis.call('GET', rw_writer)
local waiting = redis.call('GET', rw_intent)
local expiry = now + tonumber(ttl)

local function left(i) -- ms until KEYS[i] expires, at least 1
  return math.max(redis.call('PTTL', KEYS[i]), 1)
end

if mode == 'read' then
  local mine = redis.call('ZSCORE', rw_readers, id)
  local again = mine and tonumber(mine) > now
  if not again then
    if writer then return {0, left(2), 0} end
    if waiting then return {0, left(3), 0} end
  end
  redis.call('ZREMRANGEBYSCORE', rw_readers, '-inf', stamp)
  redis.call('ZADD', rw_readers, string.format('%d', expiry), id)
  rw_keep_readers(now)
  if woken == '1' and not again then rw_wake_one(RW_WAKE_READERS, wake_ms) end
  return {1, expiry, held + (again and 0 or 1)}
end

if (writer and writer ~= id) or (not writer and held > 0) then
  if not waiting or waiting == id then
    redis.call('SET', rw_intent, id, 'PX', intent_ms)
  end
  if writer then return {0, left(2), 0} end
  local first = redis.call('ZRANGEBYSCORE', rw_readers, after, '+inf', 'WITHSCORES', 'LIMIT',
    0, 1)
  return {0, math.max(tonumber(first[2]) - now, 1), 0}
end
redis.call('ZREMRANGEBYSCORE', rw_readers, '-inf', stamp)
redis.call('SET', rw_writer, id, 'PX', ttl)
if waiting == id then redis.call('DEL', rw_intent) end
return {1, expiry, 0}
