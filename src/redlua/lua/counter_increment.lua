--[[
  Add an amount to a counter unless the value before it is above a ceiling. When it moves,
  announce each threshold the move crosses (PUBLISH to a channel, or XADD to the counter's
  event stream) in this same step, so every crossing is announced exactly once.

  KEYS[1]  counter: a string holding a signed 64-bit integer; absent reads as 0
  KEYS[2]  (optional) event stream in the counter's slot, needed by "stream" notifications
  ARGV[1]  amount: an integer from 1 to 9223372036854775807
  ARGV[2]  ceiling: "" for none, else an integer: the increment applies only when the value
           before it is <= the ceiling (the caller passes maximum - amount)
  ARGV[3]  ttl in milliseconds for a counter this call creates: "" for none, else an integer
           > 0 (at most 15 digits); an existing counter keeps its expiry
  ARGV[4..n]  (optional) notifications, six entries each: "publish" or "stream"; the
           channel, or the stream's approximate MAXLEN (1 to 9 digits); the level; "up" or
           "down"; lo; hi: one goes out when the increment applies and lo <= value before
           < hi ("" leaves that side open); integers may be longer than 64 bits here

  Values are compared as decimal text, never as Lua numbers, so they stay exact past 2^53;
  INCRBY does the arithmetic.

  Returns  {1, value after, level crossed, ...} when applied; {0, value} when refused (the
           value is above the ceiling). Values are integers, or decimal strings from 2^53
           on; levels are strings. Without a ceiling nor notifications an applied increment
           to a value below 2^53 returns that value alone, an integer (the common case).
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when the counter
           holds no 64-bit integer, or a stream notification's KEYS[2] is no stream;
           COUNTER_OVERFLOW when the sum would pass 2^63-1. Nothing is written on error.
  Idempotent  no
]]
local key, stream = KEYS[1], KEYS[2]
local amount, ceiling, ttl = ARGV[1], ARGV[2], ARGV[3]
local EXACT = 9007199254740992

-- The common case first: no ceiling, no notification, an amount of at most 18 digits.
if ceiling == '' and #ARGV == 3 and #amount < 19 and string.find(amount, '^[1-9]%d*$')
    and (ttl == '' or (#ttl <= 15 and string.find(ttl, '^[1-9]%d*$'))) then
  if ttl ~= '' then -- a new counter starts at 0 with the ttl; an existing one keeps its own
    redis.call('SET', key, '0', 'NX', 'PX', ttl)
  end
  local after = redis.pcall('INCRBY', key, amount) -- checks the value before it writes
  if type(after) == 'table' then
    local err = after.err
    if string.find(err, 'overflow', 1, true) then
      return redis.error_reply('COUNTER_OVERFLOW ' .. key .. ': adding ' .. amount
        .. ' would pass 2^63-1')
    end
    if string.find(err, 'WRONGTYPE', 1, true) or string.find(err, 'not an integer', 1, true) then
      return redis.error_reply('CORRUPT_DATA ' .. key .. ' holds no 64-bit integer counter')
    end
    return after -- the server's own refusal (OOM, READONLY, ...): nothing was written
  end
  if after >= EXACT or after <= -EXACT then
    return {1, redis.call('GET', key)}
  end
  return after -- applied, and below 2^53: the value alone
end

--!include counter_notify

if not (int64(amount) and less('0', amount)) then
  return invalid('amount must be an integer from 1 to 2^63-1', amount)
end
if ceiling ~= '' and not integer(ceiling) then
  return invalid('ceiling must be an integer or empty', ceiling)
end
if ttl ~= '' and not (#ttl <= 15 and string.match(ttl, '^[1-9]%d*$')) then
  return invalid('ttl must be an integer > 0 (ms) or empty', ttl)
end
local bad = check_notifications(4)
if bad then
  return bad
end

local held = redis.pcall('GET', key)
if type(held) == 'table' or (held and not int64(held)) then
  return redis.error_reply('CORRUPT_DATA ' .. key .. ' holds no 64-bit integer counter')
end
local before = held or '0'
if ceiling ~= '' and less(ceiling, before) then
  return {0, before}
end

local after = redis.pcall('INCRBY', key, amount) -- the first write: nothing is written if it fails
if type(after) == 'table' then
  if not string.find(after.err, 'overflow', 1, true) then
    return after -- the server's own refusal (OOM, READONLY, ...): nothing was written
  end
  return redis.error_reply('COUNTER_OVERFLOW ' .. key .. ' holds ' .. before .. '; adding '
    .. amount .. ' would pass 2^63-1')
end
if not held and ttl ~= '' then
  redis.call('PEXPIRE', key, ttl)
end
if after >= EXACT or after <= -EXACT then
  after = redis.call('GET', key)
end
local reply = {1, after}
local text = type(after) == 'number' and string.format('%.0f', after) or after
announce(before, text, 4, reply)
return reply
