--[[
  Write a versioned record only if its version is still the one the writer read
  (compare-and-set), and bump the version. A refused write changes nothing: not the
  value, not the version, not the expiry.

  KEYS[1]  record hash: field "v" the value, field "n" the version (a decimal integer)
  ARGV[1]  the new value
  ARGV[2]  expected version: an integer >= 0 in canonical decimal (at most 15 digits);
           0 when the key holds nothing
  ARGV[3]  (optional) time to live of the record in milliseconds (an integer > 0, at
           most 15 digits); absent: the record does not expire

  Returns  {1, new version} when written; {0, current version, current value or false}
           when the version differs (nothing changed), so the writer can retry at once.
  Errors   INVALID_ARGUMENT when the expected version or the ttl is malformed.
           CORRUPT_DATA when the key is not a record.
  Idempotent  no (run again after it wrote, it reads as a conflict)
]]
local record = KEYS[1]
local value, expected, ttl = ARGV[1], ARGV[2], ARGV[3]

local function decimal(text, zero)
  return #text <= 15 and (string.match(text, '^[1-9]%d*$') ~= nil or (zero and text == '0'))
end
local function invalid(what, got)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(tostring(got), 1, 40) .. '"')
end
if not (expected and decimal(expected, true)) then
  return invalid('expected version must be an integer >= 0', expected)
end
if ttl and not decimal(ttl, false) then
  return invalid('ttl must be an integer > 0 of milliseconds', ttl)
end
if not value then return invalid('value is missing', value) end

local got = redis.pcall('HMGET', record, 'v', 'n')
if got.err then
  return redis.error_reply('CORRUPT_DATA ' .. record .. ' is not a versioned record')
end
local current = got[2] or '0'
if not decimal(current, true) or (current == '0' and got[1]) then
  return redis.error_reply('CORRUPT_DATA ' .. record .. ' holds no valid version')
end
if current ~= expected then
  return {0, tonumber(current), got[1]}
end

local version = tonumber(current) + 1
redis.call('HSET', record, 'v', value, 'n', string.format('%d', version))
if ttl then
  redis.call('PEXPIRE', record, ttl)
else
  redis.call('PERSIST', record)
end
return {1, version}
