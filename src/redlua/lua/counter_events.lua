#!lua flags=no-writes
--[[
  Read the threshold notifications a counter's event stream holds, oldest first.

  KEYS[1]  event stream of a counter (XADD by counter_increment, _decrement, _set)
  ARGV[1]  read entries after this stream id ("0-0" for all): digits "-" digits
  ARGV[2]  at most this many entries: an integer from 1 to 9 digits

  Returns  {{id, {field, value, ...}}, ...} as XRANGE gives them; the fields are key, level,
           direction, before and after.
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when the key holds
           no stream.
  Idempotent  yes
]]
local stream = KEYS[1]
local after, count = ARGV[1], ARGV[2]
if not string.match(after, '^%d+%-%d+$') or #after > 41 then
  return redis.error_reply('INVALID_ARGUMENT after must be a stream id like 0-0, got "'
    .. string.sub(after, 1, 64) .. '"')
end
if #count > 9 or not string.match(count, '^[1-9]%d*$') then
  return redis.error_reply('INVALID_ARGUMENT count must be an integer from 1 to 9 digits, got "'
    .. string.sub(count, 1, 64) .. '"')
end
local found = redis.pcall('XRANGE', stream, after, '+', 'COUNT', tonumber(count) + 1)
if type(found) == 'table' and found.err then
  return redis.error_reply('CORRUPT_DATA ' .. stream .. ' holds no event stream')
end
local out = {}
for _, entry in ipairs(found) do
  if entry[1] ~= after and #out < tonumber(count) then
    out[#out + 1] = entry
  end
end
return out
