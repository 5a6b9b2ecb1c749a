--[[
  Take an amount from a counter only if it holds at least that much, so it never goes below
  zero. When it moves, announce each threshold the move crosses (PUBLISH to a channel, or
  XADD to the counter's event stream) in this same step, exactly once per crossing.

  KEYS[1]  counter: a string holding a signed 64-bit integer; absent reads as 0
  KEYS[2]  (optional) event stream in the counter's slot, needed by "stream" notifications
  ARGV[1]  amount: an integer from 1 to 9223372036854775807
  ARGV[2..n]  (optional) notifications, six entries each: "publish" or "stream"; the
           channel, or the stream's approximate MAXLEN (1 to 9 digits); the level; "up" or
           "down"; lo; hi: one goes out when the decrement applies and lo <= value before
           < hi ("" leaves that side open); integers may be longer than 64 bits here

  Values are compared as decimal text, never as Lua numbers, so they stay exact past 2^53;
  DECRBY does the arithmetic. A refused decrement changes nothing.

  Returns  {1, value after, level crossed, ...} when applied; {0, value} when refused (the
           counter holds less than the amount). Values are integers, or decimal strings
           from 2^53 on; levels are strings.
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when the counter
           holds no 64-bit integer, or a stream notification's KEYS[2] is no stream.
           Nothing is written on error.
  Idempotent  no
]]
local key, stream = KEYS[1], KEYS[2]
local amount = ARGV[1]
local EXACT = 9007199254740992

--!include counter_notify

if not (int64(amount) and less('0', amount)) then
  return invalid('amount must be an integer from 1 to 2^63-1', amount)
end
local bad = check_notifications(2)
if bad then
  return bad
end

local held = redis.pcall('GET', key)
if type(held) == 'table' or (held and not int64(held)) then
  return redis.error_reply('CORRUPT_DATA ' .. key .. ' holds no 64-bit integer counter')
end
local before = held or '0'
if less(before, amount) then
  return {0, before}
end

local after = redis.call('DECRBY', key, amount) -- before >= amount > 0: no overflow
if after >= EXACT then
  after = redis.call('GET', key)
end
local reply = {1, after}
local text = type(after) == 'number' and string.format('%.0f', after) or after
announce(before, text, 2, reply)
return reply
