#!lua flags=no-writes
--[[
  Read one hold of a ledger: its record and the server time, to tell pending from expired.

  KEYS[1]  hold records: HASH hold id -> "state<TAB>src<TAB>dst<TAB>amount<TAB>deadline<TAB>created<TAB>result<TAB>memo"
  ARGV[1]  hold id: an integer >= 1

  A pending record ("P") whose deadline is at or before the returned time has expired;
  the next reaper releases it.

  Returns  {hold id, record, server time in ms}.
  Errors   INVALID_ARGUMENT for a malformed hold id; HOLD_NOT_FOUND (never made, or
           purged).
  Idempotent  yes
]]
local holds = KEYS[1]
local hold = ARGV[1]
if #hold > 15 or not string.match(hold, '^[1-9]%d*$') then
  return redis.error_reply('INVALID_ARGUMENT hold id must be an integer >= 1, got "'
    .. string.sub(hold, 1, 64) .. '"')
end
local record = redis.call('HGET', holds, hold)
if not record then
  return redis.error_reply('HOLD_NOT_FOUND hold ' .. hold .. ' does not exist (or was purged)')
end
local clock = redis.call('TIME')
return {tonumber(hold), record, tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)}
