--[[
  Delete a versioned record's value only if its version is still the one the caller
  read, and leave a tombstone that keeps the bumped version for a while, so a writer
  holding an older version cannot match a record created again later (no ABA).

  KEYS[1]  record hash: field "v" the value, field "n" the version (a decimal integer)
  ARGV[1]  expected version: an integer >= 0 in canonical decimal (at most 15 digits)
  ARGV[2]  tombstone lifetime in milliseconds (an integer > 0, at most 15 digits)

  Returns  {1, version} when deleted (the tombstone's version) or when the record was
           already absent at the expected version (nothing written); {0, current
           version, current value or false} when the version differs (nothing changed).
  Errors   INVALID_ARGUMENT when the expected version or the lifetime is malformed.
           CORRUPT_DATA when the key is not a record.
  Idempotent  no (run again after it deleted, it reads as a conflict)
]]
local record = KEYS[1]
local expected, keep = ARGV[1], ARGV[2]

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
if not (keep and decimal(keep, false)) then
  return invalid('tombstone lifetime must be an integer > 0 of milliseconds', keep)
end

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
if not got[1] then
  return {1, tonumber(current)}
end

local version = tonumber(current) + 1
redis.call('HDEL', record, 'v')
redis.call('HSET', record, 'n', string.format('%d', version))
redis.call('PEXPIRE', record, keep)
return {1, version}
