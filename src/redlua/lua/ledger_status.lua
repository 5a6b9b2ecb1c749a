--[[
  Freeze, unfreeze or close one account of a ledger.

  KEYS[1]  accounts: HASH account id -> "status<TAB>currency<TAB>scale<TAB>overdraft<TAB>created ms"
  KEYS[2]  balances: HASH account id -> balance in minor units
  KEYS[3]  held: HASH account id -> minor units reserved by pending holds
  KEYS[4]  pending holds: ZSET hold id -> deadline in server milliseconds
  KEYS[5]  finished holds: ZSET hold id -> when its record is purged, server milliseconds
  KEYS[6]  hold records: HASH hold id -> "state<TAB>src<TAB>dst<TAB>amount<TAB>deadline<TAB>created<TAB>result<TAB>memo"
  ARGV[1]  account id: 1 to 512 bytes, no braces or control characters
  ARGV[2]  action: "freeze" (active -> frozen), "unfreeze" (frozen -> active) or
           "close" (active or frozen -> closed, for good)
  ARGV[3]  finished-hold retention in ms: an integer > 0
  ARGV[4]  reaper batch: an integer >= 1, at most this many holds released or purged

  A frozen or closed account neither sends nor receives. Closing needs a zero balance
  and no pending hold on the account (due holds are released first: the lazy reaper);
  a closed account keeps its record and history, so its id is never reused. An action
  that finds the account already in its target state changes nothing.

  Returns  1 when the status changed, 0 when it already was the target.
  Errors   INVALID_ARGUMENT for a malformed argument; ACCOUNT_NOT_FOUND;
           ACCOUNT_INACTIVE when the account is closed; ACCOUNT_NOT_EMPTY when a close
           finds a balance or a pending hold; CORRUPT_DATA when a record, balance or
           held sum is not what these scripts write, or a key the reaper writes has
           another type (checked before any write). Nothing is written on an error.
  Idempotent  yes
]]
local accounts, balances, held = KEYS[1], KEYS[2], KEYS[3]
local pending, finished, holds = KEYS[4], KEYS[5], KEYS[6]
local account, action, keep_ms, batch = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

--!include ledger_args

if #account < 1 or #account > 512 or string.find(account, '[{}%c]') then
  return invalid('account must be an account id', account)
end
local target = ({freeze = 'frozen', unfreeze = 'active', close = 'closed'})[action]
if not target then return invalid('action must be freeze, unfreeze or close', action) end
if not count(keep_ms, 15) then return invalid('retention must be > 0 (ms)', keep_ms) end
if not count(batch, 4) then return invalid('reaper batch must be 1 to 9999', batch) end

local shown = '"' .. string.sub(account, 1, 64) .. '"'
local meta = redis.call('HGET', accounts, account)
if not meta then
  return redis.error_reply('ACCOUNT_NOT_FOUND account ' .. shown .. ' does not exist')
end
local status, rest = string.match(meta, '^(%a+)(\t.*)$')
if not status then return redis.error_reply('CORRUPT_DATA account record ' .. shown) end
if status == target then return 0 end
if status == 'closed' then
  return redis.error_reply('ACCOUNT_INACTIVE account ' .. shown .. ' is closed')
end
if action == 'unfreeze' and status ~= 'frozen' then return 0 end

--!include ledger_reaper

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local due, bad = due_holds(now, batch)
if bad then return bad end
if target == 'closed' then
  local balance = redis.pcall('HGET', balances, account)
  local reserved = redis.pcall('HGET', held, account)
  bad = wrong_reply(balances, balance) or wrong_reply(held, reserved)
  if bad then return bad end
  if not (counter_ok(balance) and counter_ok(reserved)) then
    return redis.error_reply('CORRUPT_DATA the balance or held sum of ' .. shown
      .. ' is not an integer; nothing was written')
  end
  balance = tonumber(balance or '0')
  reserved = tonumber(reserved or '0') - freed(due, account)
  if balance ~= 0 or reserved ~= 0 then
    return redis.error_reply('ACCOUNT_NOT_EMPTY account ' .. shown .. ' has a balance of '
      .. string.format('%d', balance) .. ' and ' .. string.format('%d', reserved)
      .. ' held; only an empty account closes')
  end
end
reap(due, now, tonumber(keep_ms))
redis.call('HSET', accounts, account, target .. rest)
return 1
