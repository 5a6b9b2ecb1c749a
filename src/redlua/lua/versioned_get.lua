#!lua flags=no-writes
--[[
  Read a versioned record: its value and its version, in one step.

  KEYS[1]  record hash: field "v" the value, field "n" the version (a decimal integer)

  A deleted record keeps its version (a tombstone without "v") until the tombstone
  expires, so a writer holding a version from before the delete cannot match again.

  Returns  {value or false, version}: version 0 when the key holds nothing (never
           written, expired, or its tombstone expired); value false when the record is
           absent or deleted.
  Errors   CORRUPT_DATA when the key is not a record (another type, or no valid version).
  Idempotent  yes
]]
local record = KEYS[1]
local got = redis.pcall('HMGET', record, 'v', 'n')
if got.err then
  return redis.error_reply('CORRUPT_DATA ' .. record .. ' is not a versioned record')
end
local value, version = got[1], got[2]
if not version then
  if value then
    return redis.error_reply('CORRUPT_DATA ' .. record .. ' has a value but no version')
  end
  return {false, 0}
end
if not (#version <= 15 and string.match(version, '^[1-9]%d*$')) then
  return redis.error_reply('CORRUPT_DATA ' .. record .. ' holds no valid version')
end
return {value, tonumber(version)}
