--[[
  Reserve an amount of one account for a later capture to another account, until a deadline.

  KEYS[1]  accounts: HASH account id -> "status<TAB>currency<TAB>scale<TAB>overdraft<TAB>created ms"
  KEYS[2]  balances: HASH account id -> balance in minor units
  KEYS[3]  held: HASH account id -> minor units reserved by pending holds
  KEYS[4]  id counter: STRING, INCR gives the ids of transfers and holds
  KEYS[5]  pending holds: ZSET hold id -> deadline in server milliseconds
  KEYS[6]  finished holds: ZSET hold id -> when its record is purged, server milliseconds
  KEYS[7]  hold records: HASH hold id -> "state<TAB>src<TAB>dst<TAB>amount<TAB>deadline<TAB>created<TAB>result<TAB>memo"
  KEYS[8]  (optional) idempotency record: STRING, kept ARGV[6] ms
  ARGV[1]  source account id: 1 to 512 bytes, no braces or control characters
  ARGV[2]  destination account id, another account of the same ledger
  ARGV[3]  amount: minor units "<integer >= 1>" (15 digits at most), or "d<decimal>" in
           major units with at most as many decimal places as the currency's scale
  ARGV[4]  ttl in milliseconds: an integer > 0 (at most 15 digits)
  ARGV[5]  memo: at most 256 bytes, kept with the hold and in its capture's entries
  ARGV[6]  idempotency record lifetime in ms: an integer > 0
  ARGV[7]  finished-hold retention in ms: an integer > 0
  ARGV[8]  reaper batch: an integer >= 1, at most this many holds released or purged

  The checks are those of a transfer (both accounts exist and are active, one currency,
  the amount covered by balance - held + overdraft limit). The amount moves to the
  source's held sum, so other transfers cannot spend it; the balance is unchanged until
  a capture. The hold is due at now + ttl (server time): the reaper in every transfer,
  hold, capture, void, info, status and reap script of the ledger then gives the amount
  back, once. Due holds are released first here too. With an idempotency record that
  exists, the first hold is returned (with its current state) and nothing is written.

  Returns  {hold id, record (see KEYS[7]), server time in ms, 1 when replayed else 0}.
  Errors   INVALID_ARGUMENT, ACCOUNT_NOT_FOUND, ACCOUNT_INACTIVE, CURRENCY_MISMATCH,
           INSUFFICIENT_FUNDS, IDEMPOTENCY_CONFLICT; HOLD_NOT_FOUND when a replayed
           hold's record was purged; CORRUPT_DATA when a record, balance, held sum or
           the id counter is not what these scripts write, or a key it writes has
           another type (checked before any write). Nothing is written on an error.
  Idempotent  no; with an idempotency record a re-send replays the first result
]]
local accounts, balances, held, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local pending, finished, holds = KEYS[5], KEYS[6], KEYS[7]
local idem = KEYS[8]
local src, dst, amount_arg, ttl, memo = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local idem_ms, keep_ms, batch = ARGV[6], ARGV[7], ARGV[8]

--!include ledger_args
--!include ledger_ids
--!include ledger_amounts

if not name_ok(src) then return invalid('source must be an account id', src) end
if not name_ok(dst) then return invalid('destination must be an account id', dst) end
if src == dst then return invalid('source and destination must differ', dst) end
if not (count(amount_arg, 15) or (#amount_arg <= 64
    and string.match(amount_arg, '^d%d+%.?%d*$'))) then
  return invalid('amount must be minor units > 0 or d<decimal>', amount_arg)
end
if not count(ttl, 15) then return invalid('ttl must be an integer > 0 (ms)', ttl) end
if #memo > 256 then return invalid('memo must be at most 256 bytes', memo) end
if not count(idem_ms, 15) then return invalid('idempotency ttl must be > 0 (ms)', idem_ms) end
if not count(keep_ms, 15) then return invalid('retention must be > 0 (ms)', keep_ms) end
if not count(batch, 4) then return invalid('reaper batch must be 1 to 9999', batch) end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

if idem then
  local record = redis.call('GET', idem)
  if record then
    local kind, r_src, r_dst, r_amount, r_scale, id = string.match(
      record, '^(%u)\t([^\t]+)\t([^\t]+)\t(%d+)\t(%d+)\t(%d+)')
    if not kind then return redis.error_reply('CORRUPT_DATA idempotency record ' .. idem) end
    local asked = minor_units(amount_arg, tonumber(r_scale))
    if kind ~= 'H' or r_src ~= src or r_dst ~= dst or asked ~= tonumber(r_amount) then
      return redis.error_reply('IDEMPOTENCY_CONFLICT the key was used for another request '
        .. '(' .. (kind == 'H' and 'hold' or 'transfer') .. ' of ' .. r_amount .. ' from '
        .. shown(r_src) .. ' to ' .. shown(r_dst) .. ')')
    end
    local first = redis.call('HGET', holds, id)
    if not first then
      return redis.error_reply('HOLD_NOT_FOUND hold ' .. id .. ' of this idempotency key was purged')
    end
    return {tonumber(id), first, now, 1}
  end
end

--!include ledger_pair

--!include ledger_reaper

local due, bad = due_holds(now, batch)
if bad then return bad end
bad = wrong_type(holds, 'hash')
if bad then return bad end
local balance = redis.pcall('HGET', balances, src)
local src_held = redis.pcall('HGET', held, src)
bad = wrong_reply(balances, balance) or wrong_reply(held, src_held)
if bad then return bad end
if not (counter_ok(balance) and counter_ok(src_held)) then
  return redis.error_reply('CORRUPT_DATA the balance or held sum of ' .. shown(src)
    .. ' is not an integer; nothing was written')
end
balance = tonumber(balance or '0')
local reserved = tonumber(src_held or '0') - freed(due, src)
local available = balance - reserved + parsed[1][3]
if amount > available then
  return redis.error_reply('INSUFFICIENT_FUNDS account ' .. shown(src) .. ' has '
    .. string.format('%d', available) .. ' available, the hold needs '
    .. string.format('%d', amount))
end

local id
id, bad = next_id() -- the first write
if bad then return bad end
reap(due, now, tonumber(keep_ms))
local hold, deadline = string.format('%d', id), string.format('%d', now + tonumber(ttl))
local record = table.concat({'P', src, dst, string.format('%d', amount), deadline,
  string.format('%d', now), '', memo}, '\t')
redis.call('HINCRBY', held, src, string.format('%d', amount))
redis.call('HSET', holds, hold, record)
redis.call('ZADD', pending, deadline, hold)
if idem then
  redis.call('SET', idem, table.concat({'H', src, dst, string.format('%d', amount),
    string.format('%d', parsed[1][2]), hold}, '\t'), 'PX', idem_ms)
end
return {id, record, now, 0}
