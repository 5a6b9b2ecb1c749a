--[[
  Read one account of a ledger: its record, balance and held sum, after the lazy reaper.

  KEYS[1]  accounts: HASH account id -> "status<TAB>currency<TAB>scale<TAB>overdraft<TAB>created ms"
  KEYS[2]  balances: HASH account id -> balance in minor units
  KEYS[3]  held: HASH account id -> minor units reserved by pending holds
  KEYS[4]  pending holds: ZSET hold id -> deadline in server milliseconds
  KEYS[5]  finished holds: ZSET hold id -> when its record is purged, server milliseconds
  KEYS[6]  hold records: HASH hold id -> "state<TAB>src<TAB>dst<TAB>amount<TAB>deadline<TAB>created<TAB>result<TAB>memo"
  ARGV[1]  account id: 1 to 512 bytes, no braces or control characters
  ARGV[2]  finished-hold retention in ms: an integer > 0
  ARGV[3]  reaper batch: an integer >= 1, at most this many holds released or purged

  Due holds are released first (at most ARGV[3]), so the held sum counts pending holds
  only. Writes nothing else.

  Returns  {account record, balance, held}; the balance and held sum are integers.
  Errors   INVALID_ARGUMENT for a malformed argument; ACCOUNT_NOT_FOUND; CORRUPT_DATA
           when a key the reaper writes has another type or a held sum is not an
           integer (checked before any write). Nothing is written on an error.
  Idempotent  yes
]]
local accounts, balances, held = KEYS[1], KEYS[2], KEYS[3]
local pending, finished, holds = KEYS[4], KEYS[5], KEYS[6]
local account, keep_ms, batch = ARGV[1], ARGV[2], ARGV[3]

--!include ledger_args

if #account < 1 or #account > 512 or string.find(account, '[{}%c]') then
  return invalid('account must be an account id', account)
end
if not count(keep_ms, 15) then return invalid('retention must be > 0 (ms)', keep_ms) end
if not count(batch, 4) then return invalid('reaper batch must be 1 to 9999', batch) end

local meta = redis.call('HGET', accounts, account)
if not meta then
  return redis.error_reply('ACCOUNT_NOT_FOUND account "' .. string.sub(account, 1, 64)
    .. '" does not exist')
end

--!include ledger_reaper

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local due, bad = due_holds(now, batch)
if bad then return bad end
reap(due, now, tonumber(keep_ms))
return {meta, tonumber(redis.call('HGET', balances, account) or '0'),
  tonumber(redis.call('HGET', held, account) or '0')}
