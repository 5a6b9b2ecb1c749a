-- What the read-write lock scripts share (--!include rwlock_base, after check_types):
-- KEYS[1..5] and their checks, the server's clock and the wake-up of one waiter.
--   KEYS[1]  readers: ZSET holder id -> expiry in server milliseconds
--   KEYS[2]  writer: STRING, the writing holder's id, expiring with its ttl (PX)
--   KEYS[3]  intent: STRING, the id of a writer kept waiting, expiring soon (PX); while
--            it lives, new readers wait behind it, so writers are not starved
--   KEYS[4]  readers' wake list: waiting readers BLPOP it; one element wakes one
--   KEYS[5]  writers' wake list: the same for waiting writers

local rw_readers, rw_writer, rw_intent = KEYS[1], KEYS[2], KEYS[3]
local rw_wake_readers, rw_wake_writers = KEYS[4], KEYS[5]

-- An INVALID_ARGUMENT reply quoting (the start of) the value.
local function rw_invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(tostring(value), 1, 64) .. '"')
end

-- True for a decimal integer >= 1 of at most `digits` digits.
local function rw_positive(text, digits)
  return #text <= digits and string.match(text, '^[1-9]%d*$') ~= nil
end

-- The checks every script makes first: mode (one of `modes`), holder id, and the key
-- types; an error reply, or nil when all is well.
local function rw_check(mode, modes, id)
  if not modes[mode] then
    return rw_invalid('mode must be one of ' .. modes[1], mode)
  end
  if #id > 64 or not string.match(id, '^[%w_-]+$') then
    return rw_invalid('holder id must be 1 to 64 letters, digits, _ or -', id)
  end
  return wrong_type(rw_readers, 'zset', rw_writer, 'string', rw_intent, 'string',
    rw_wake_readers, 'list', rw_wake_writers, 'list')
end

-- Now in server milliseconds (TIME).
local function rw_now()
  local clock = redis.call('TIME')
  return tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end

local RW_WAKE_READERS, RW_WAKE_WRITERS = 4, 5 -- the wake lists' places in KEYS

-- Wake one waiter of the wake list KEYS[i]: one element on it (at most 64 wait there),
-- kept for `wake_ms` milliseconds in case no waiter is blocked yet.
local function rw_wake_one(i, wake_ms)
  redis.call('RPUSH', KEYS[i], '1')
  redis.call('LTRIM', KEYS[i], 0, 63)
  redis.call('PEXPIRE', KEYS[i], wake_ms)
end

-- The lock is free of a writer: wake a waiting writer if one said so (an intent), else a
-- reader (who wakes the next).
local function rw_wake_next(wake_ms)
  if redis.call('EXISTS', rw_intent) == 1 then
    rw_wake_one(RW_WAKE_WRITERS, wake_ms)
  else
    rw_wake_one(RW_WAKE_READERS, wake_ms)
  end
end

-- Keep the readers' set until its furthest expiry, as seen at `now`; nothing when empty.
local function rw_keep_readers(now)
  local last = redis.call('ZRANGE', rw_readers, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIRE', rw_readers, string.format('%d', tonumber(last[2]) - now))
  end
end
