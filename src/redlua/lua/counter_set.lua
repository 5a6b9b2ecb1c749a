--[[
  Set a counter to a value. When that moves it across a threshold, announce the crossing
  (PUBLISH to a channel, or XADD to the counter's event stream) in this same step.

  KEYS[1]  counter: a string holding a signed 64-bit integer; absent reads as 0
  KEYS[2]  (optional) event stream in the counter's slot, needed by "stream" notifications
  ARGV[1]  value: an integer from -2^63 to 2^63-1
  ARGV[2]  ttl in milliseconds: "" keeps the counter's expiry (none for a new one), else an
           integer > 0 (at most 15 digits) that replaces it
  ARGV[3..n]  (optional) notifications, six entries each: "publish" or "stream"; the
           channel, or the stream's approximate MAXLEN (1 to 9 digits); the level; "up" or
           "down"; lo; hi: one goes out when lo <= value before < hi ("" leaves that side open)

  Returns  {value before, level crossed, ...}: the value as an integer, or a decimal string
           from 2^53 on; levels are strings.
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when the key holds
           anything but a 64-bit integer, or a stream notification's KEYS[2] is no
           stream (nothing is written).
  Idempotent  no
]]
local key, stream = KEYS[1], KEYS[2]
local value, ttl = ARGV[1], ARGV[2]

--!include counter_notify

if not int64(value) then
  return invalid('value must be an integer from -2^63 to 2^63-1', value)
end
if ttl == nil or (ttl ~= '' and not (#ttl <= 15 and string.match(ttl, '^[1-9]%d*$'))) then
  return invalid('ttl must be an integer > 0 (ms) or empty', ttl)
end
local bad = check_notifications(3)
if bad then
  return bad
end

local held = redis.pcall('GET', key)
if type(held) == 'table' or (held and not int64(held)) then
  return redis.error_reply('CORRUPT_DATA ' .. key .. ' holds no 64-bit integer counter')
end
local before = held or '0'

if ttl == '' then
  redis.call('SET', key, value, 'KEEPTTL')
else
  redis.call('SET', key, value, 'PX', ttl)
end
local reply = {before}
announce(before, value, 3, reply)
return reply
