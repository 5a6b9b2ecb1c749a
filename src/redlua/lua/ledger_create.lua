--[[
  Open an account in a ledger, with a currency, a status, an overdraft limit and an opening balance.

  KEYS[1]  accounts: HASH account id -> "status<TAB>currency<TAB>scale<TAB>overdraft<TAB>created ms"
  KEYS[2]  balances: HASH account id -> balance in minor units
  KEYS[3]  id counter: STRING, INCR gives the ids of transfers and holds
  KEYS[4]  audit: STREAM of every movement of the ledger, capped at about ARGV[8]
  KEYS[5]  the account's history: STREAM of its entries, capped at about ARGV[7]
  ARGV[1]  account id: 1 to 512 bytes, no braces or control characters
  ARGV[2]  currency code: 3 to 12 capital letters or digits, starting with a letter
  ARGV[3]  scale: decimal places of the currency's minor unit, 0 to 12
  ARGV[4]  status: "active" or "frozen"
  ARGV[5]  opening balance in minor units: an integer >= 0 (15 digits at most)
  ARGV[6]  overdraft limit in minor units: an integer >= 0 (15 digits at most); the
           balance may go down to minus this much
  ARGV[7]  history cap: an integer >= 1
  ARGV[8]  audit cap: an integer >= 1

  A non-zero opening balance enters the ledger from outside, so it is written as an
  "open" entry in the audit and in the account's history under an id from the counter;
  the history then sums to the balance. The creation time is the server's (TIME).

  Returns  {account record, balance, 0 (held)}.
  Errors   INVALID_ARGUMENT when an argument is malformed; ACCOUNT_EXISTS when the id
           is taken, by any status, closed included; CORRUPT_DATA when a key it would
           write has another type (balances not a hash; with an opening balance, the
           audit or history not a stream, or the id counter not an integer). Nothing is
           written on an error.
  Idempotent  no
]]
local accounts, balances, seq, audit, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local account, currency, scale, status, opening, overdraft = ARGV[1], ARGV[2], ARGV[3],
  ARGV[4], ARGV[5], ARGV[6]
local history_cap, audit_cap = ARGV[7], ARGV[8]

--!include ledger_args
--!include ledger_ids

local function units(text)
  return text == '0' or count(text, 15)
end

if #account < 1 or #account > 512 or string.find(account, '[{}%c]') then
  return invalid('account must be an account id', account)
end
if #currency < 3 or #currency > 12 or not string.match(currency, '^%u[%u%d]*$') then
  return invalid('currency must be 3 to 12 capital letters or digits', currency)
end
if not (string.match(scale, '^%d%d?$') and tonumber(scale) <= 12) then
  return invalid('scale must be 0 to 12', scale)
end
if status ~= 'active' and status ~= 'frozen' then
  return invalid('status must be active or frozen', status)
end
if not units(opening) then return invalid('opening balance must be >= 0', opening) end
if not units(overdraft) then return invalid('overdraft limit must be >= 0', overdraft) end
if not count(history_cap, 9) then return invalid('history cap must be >= 1', history_cap) end
if not count(audit_cap, 9) then return invalid('audit cap must be >= 1', audit_cap) end

if redis.call('HEXISTS', accounts, account) == 1 then
  return redis.error_reply('ACCOUNT_EXISTS account "' .. string.sub(account, 1, 64)
    .. '" already exists')
end
local bad = wrong_type(balances, 'hash')
if not bad and opening ~= '0' then bad = wrong_type(audit, 'stream', log, 'stream') end
if bad then return bad end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local meta = table.concat({status, currency, string.format('%d', tonumber(scale)), overdraft,
  string.format('%d', now)}, '\t')
local id
if opening ~= '0' then
  id, bad = next_id() -- the first write
  if bad then return bad end
end
redis.call('HSET', accounts, account, meta)
redis.call('HSET', balances, account, opening)
if id then
  local tx = string.format('%d', id)
  redis.call('XADD', audit, 'MAXLEN', '~', audit_cap, '*', 'tx', tx, 'kind', 'open',
    'src', '', 'dst', account, 'amount', opening, 'memo', '')
  redis.call('XADD', log, 'MAXLEN', '~', history_cap, '*', 'tx', tx, 'kind', 'open',
    'delta', opening, 'balance', opening, 'peer', '', 'memo', '')
end
return {meta, tonumber(opening), 0}
