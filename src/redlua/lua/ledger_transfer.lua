--[[
  Move an amount from one account of a ledger to another, with one history entry on each.

  KEYS[1]  accounts: HASH account id -> "status<TAB>currency<TAB>scale<TAB>overdraft<TAB>created ms"
  KEYS[2]  balances: HASH account id -> balance in minor units
  KEYS[3]  held: HASH account id -> minor units reserved by pending holds
  KEYS[4]  id counter: STRING, INCR gives the ids of transfers and holds
  KEYS[5]  audit: STREAM of every movement of the ledger, capped at about ARGV[6]
  KEYS[6]  source history: STREAM of the source account's entries
  KEYS[7]  destination history: STREAM of the destination account's entries
  KEYS[8]  pending holds: ZSET hold id -> deadline in server milliseconds
  KEYS[9]  finished holds: ZSET hold id -> when its record is purged, server milliseconds
  KEYS[10] hold records: HASH hold id -> "state<TAB>src<TAB>dst<TAB>amount<TAB>deadline<TAB>created<TAB>result<TAB>memo"
  KEYS[11] (optional) idempotency record: STRING, kept ARGV[7] ms
  ARGV[1]  source account id: 1 to 512 bytes, no braces or control characters
  ARGV[2]  destination account id, another account of the same ledger
  ARGV[3]  amount: minor units "<integer >= 1>" (15 digits at most), or "d<decimal>" in
           major units with at most as many decimal places as the currency's scale
  ARGV[4]  memo: at most 256 bytes, kept in the history and audit entries
  ARGV[5]  history cap: an integer >= 1, each history keeps about this many newest entries
  ARGV[6]  audit cap: an integer >= 1
  ARGV[7]  idempotency record lifetime in ms: an integer > 0
  ARGV[8]  finished-hold retention in ms: an integer > 0 (for the reaper)
  ARGV[9]  reaper batch: an integer >= 1, at most this many holds released or purged

  Both accounts must exist, be active and hold the same currency at the same scale; the
  amount must be covered: balance - held + overdraft limit >= amount. The time is the
  server's (TIME). Pending holds that are due are released first (the lazy reaper, at
  most ARGV[9] of them), and count as released in the funds check. One id from the
  counter names the transfer in the audit entry and in both history entries. With an
  idempotency record that exists, the first result is returned and nothing is written;
  the record of a new transfer keeps its result for ARGV[7] ms. Histories and the audit
  are trimmed with MAXLEN ~ (whole stream nodes), so each keeps at least its cap.

  Returns  {transfer id, amount in minor units, source balance after, destination
           balance after, server time in ms, 1 when replayed else 0}; all integers.
  Errors   INVALID_ARGUMENT for a malformed argument, an amount with more decimal
           places than the scale, or a balance past 15 digits; ACCOUNT_NOT_FOUND;
           ACCOUNT_INACTIVE when an account is frozen or closed; CURRENCY_MISMATCH;
           INSUFFICIENT_FUNDS; IDEMPOTENCY_CONFLICT when the key was used for another
           request; CORRUPT_DATA when a record, balance, held sum or the id counter is
           not what these scripts write, or a key it writes has another type (checked
           before any write). Nothing is written on an error.
  Idempotent  no; with an idempotency record a re-send replays the first result
]]
local accounts, balances, held, seq, audit, src_log, dst_log = KEYS[1], KEYS[2], KEYS[3],
  KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local pending, finished, holds = KEYS[8], KEYS[9], KEYS[10]
local idem = KEYS[11]
local src, dst, amount_arg, memo = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local history_cap, audit_cap, idem_ms, keep_ms, batch = ARGV[5], ARGV[6], ARGV[7], ARGV[8],
  ARGV[9]
local MAX = 999999999999999

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
if #memo > 256 then return invalid('memo must be at most 256 bytes', memo) end
if not count(history_cap, 9) then return invalid('history cap must be >= 1', history_cap) end
if not count(audit_cap, 9) then return invalid('audit cap must be >= 1', audit_cap) end
if not count(idem_ms, 15) then return invalid('idempotency ttl must be > 0 (ms)', idem_ms) end
if not count(keep_ms, 15) then return invalid('retention must be > 0 (ms)', keep_ms) end
if not count(batch, 4) then return invalid('reaper batch must be 1 to 9999', batch) end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

if idem then
  local record = redis.call('GET', idem)
  if record then
    local kind, r_src, r_dst, r_amount, r_scale, id, rest = string.match(
      record, '^(%u)\t([^\t]+)\t([^\t]+)\t(%d+)\t(%d+)\t(%d+)(.*)$')
    if not kind then return redis.error_reply('CORRUPT_DATA idempotency record ' .. idem) end
    local asked = minor_units(amount_arg, tonumber(r_scale))
    if kind ~= 'T' or r_src ~= src or r_dst ~= dst or asked ~= tonumber(r_amount) then
      return redis.error_reply('IDEMPOTENCY_CONFLICT the key was used for another request '
        .. '(' .. (kind == 'T' and 'transfer' or 'hold') .. ' of ' .. r_amount .. ' from '
        .. shown(r_src) .. ' to ' .. shown(r_dst) .. ')')
    end
    local src_after, dst_after, at = string.match(rest, '^\t(%-?%d+)\t(%-?%d+)\t(%d+)$')
    if not at then return redis.error_reply('CORRUPT_DATA idempotency record ' .. idem) end
    return {tonumber(id), tonumber(r_amount), tonumber(src_after), tonumber(dst_after),
      tonumber(at), 1}
  end
end

--!include ledger_pair

--!include ledger_reaper

local due, bad = due_holds(now, batch)
if bad then return bad end
bad = wrong_type(audit, 'stream', src_log, 'stream', dst_log, 'stream')
if bad then return bad end
local sums = redis.pcall('HMGET', balances, src, dst)
local src_held = redis.pcall('HGET', held, src)
bad = wrong_reply(balances, sums) or wrong_reply(held, src_held)
if bad then return bad end
if not (counter_ok(sums[1]) and counter_ok(sums[2]) and counter_ok(src_held)) then
  return redis.error_reply('CORRUPT_DATA the balance or held sum of ' .. shown(src) .. ' or '
    .. shown(dst) .. ' is not an integer; nothing was written')
end
local src_balance, dst_balance = tonumber(sums[1] or '0'), tonumber(sums[2] or '0')
local reserved = tonumber(src_held or '0') - freed(due, src)
local available = src_balance - reserved + parsed[1][3]
if amount > available then
  return redis.error_reply('INSUFFICIENT_FUNDS account ' .. shown(src) .. ' has '
    .. string.format('%d', available) .. ' available, the transfer needs '
    .. string.format('%d', amount))
end
if dst_balance + amount > MAX then
  return invalid('amount would take the balance of ' .. shown(dst) .. ' past 15 digits',
    amount_arg)
end

local id
id, bad = next_id() -- the first write
if bad then return bad end
reap(due, now, tonumber(keep_ms))
local moved, tx = string.format('%d', amount), string.format('%d', id)
local src_after = redis.call('HINCRBY', balances, src, '-' .. moved)
local dst_after = redis.call('HINCRBY', balances, dst, moved)
redis.call('XADD', audit, 'MAXLEN', '~', audit_cap, '*', 'tx', tx, 'kind', 'transfer',
  'src', src, 'dst', dst, 'amount', moved, 'memo', memo)
redis.call('XADD', src_log, 'MAXLEN', '~', history_cap, '*', 'tx', tx, 'kind', 'transfer',
  'delta', '-' .. moved, 'balance', string.format('%d', src_after), 'peer', dst, 'memo', memo)
redis.call('XADD', dst_log, 'MAXLEN', '~', history_cap, '*', 'tx', tx, 'kind', 'transfer',
  'delta', moved, 'balance', string.format('%d', dst_after), 'peer', src, 'memo', memo)
if idem then
  redis.call('SET', idem, table.concat({'T', src, dst, moved, parsed[1][2], tx,
    string.format('%d', src_after), string.format('%d', dst_after),
    string.format('%d', now)}, '\t'), 'PX', idem_ms)
end
return {id, amount, src_after, dst_after, now, 0}
