--[[
  Capture a pending hold: move its amount from the source to the destination, once.

  KEYS[1]  accounts: HASH account id -> "status<TAB>currency<TAB>scale<TAB>overdraft<TAB>created ms"
  KEYS[2]  balances: HASH account id -> balance in minor units
  KEYS[3]  held: HASH account id -> minor units reserved by pending holds
  KEYS[4]  id counter: STRING, INCR gives the ids of transfers and holds
  KEYS[5]  audit: STREAM of every movement of the ledger, capped at about ARGV[5]
  KEYS[6]  source history: STREAM of the hold's source account
  KEYS[7]  destination history: STREAM of the hold's destination account
  KEYS[8]  pending holds: ZSET hold id -> deadline in server milliseconds
  KEYS[9]  finished holds: ZSET hold id -> when its record is purged, server milliseconds
  KEYS[10] hold records: HASH hold id -> "state<TAB>src<TAB>dst<TAB>amount<TAB>deadline<TAB>created<TAB>result<TAB>memo"
  ARGV[1]  hold id: an integer >= 1
  ARGV[2]  the hold's source account id (names KEYS[6]; checked against the record)
  ARGV[3]  the hold's destination account id (names KEYS[7]; checked against the record)
  ARGV[4]  history cap: an integer >= 1, each history keeps about this many newest entries
  ARGV[5]  audit cap: an integer >= 1
  ARGV[6]  finished-hold retention in ms: an integer > 0
  ARGV[7]  reaper batch: an integer >= 1, at most this many holds released or purged

  A pending hold whose deadline is still ahead (server time) is captured: its amount
  leaves the source's held sum and its balance, reaches the destination, and is written
  as one audit entry and one history entry per account (kind "capture") under a new
  transfer id; the record turns "C" with the result and is kept ARGV[6] ms. Both
  accounts must still be active. Capturing a captured hold again returns the first
  result and writes nothing; a capture and a void of one hold exclude each other. Other
  due holds are released first (the lazy reaper).

  Returns  {transfer id, amount, source balance after, destination balance after, server
           time in ms of the capture, 1 when it was captured before else 0}; integers.
  Errors   INVALID_ARGUMENT for a malformed argument or accounts that are not the
           hold's; HOLD_NOT_FOUND (never made, or purged); HOLD_NOT_PENDING when it was
           voided or is expired; ACCOUNT_NOT_FOUND; ACCOUNT_INACTIVE; INSUFFICIENT_FUNDS;
           CORRUPT_DATA when a record, balance, held sum or the id counter is not what
           these scripts write, or a key it writes has another type (checked before any
           write). Nothing is written on an error.
  Idempotent  yes
]]
local accounts, balances, held, seq, audit, src_log, dst_log = KEYS[1], KEYS[2], KEYS[3],
  KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local pending, finished, holds = KEYS[8], KEYS[9], KEYS[10]
local hold, src, dst = ARGV[1], ARGV[2], ARGV[3]
local history_cap, audit_cap, keep_ms, batch = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local MAX = 999999999999999

--!include ledger_args
--!include ledger_ids
--!include ledger_amounts

if not count(hold, 15) then return invalid('hold id must be an integer >= 1', hold) end
if not count(history_cap, 9) then return invalid('history cap must be >= 1', history_cap) end
if not count(audit_cap, 9) then return invalid('audit cap must be >= 1', audit_cap) end
if not count(keep_ms, 15) then return invalid('retention must be > 0 (ms)', keep_ms) end
if not count(batch, 4) then return invalid('reaper batch must be 1 to 9999', batch) end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local record = redis.call('HGET', holds, hold)
if not record then
  return redis.error_reply('HOLD_NOT_FOUND hold ' .. hold .. ' does not exist (or was purged)')
end
local state, r_src, r_dst, r_amount, deadline, created, result, memo = string.match(record,
  '^(%u)\t([^\t]+)\t([^\t]+)\t(%d+)\t(%d+)\t(%d+)\t([^\t]*)\t(.*)$')
if not state then return redis.error_reply('CORRUPT_DATA hold record ' .. hold) end
if r_src ~= src or r_dst ~= dst then
  return invalid('hold ' .. hold .. ' is from ' .. shown(r_src) .. ' to ' .. shown(r_dst),
    src .. ' -> ' .. dst)
end
if state == 'C' then
  local tx, src_after, dst_after, at = string.match(result, '^(%d+),(%-?%d+),(%-?%d+),(%d+)$')
  if not tx then return redis.error_reply('CORRUPT_DATA hold record ' .. hold) end
  return {tonumber(tx), tonumber(r_amount), tonumber(src_after), tonumber(dst_after),
    tonumber(at), 1}
end
if state ~= 'P' or tonumber(deadline) <= now then
  local why = (state == 'V' and 'was voided') or 'expired'
  return redis.error_reply('HOLD_NOT_PENDING hold ' .. hold .. ' ' .. why)
end

local metas = redis.call('HMGET', accounts, src, dst)
local overdraft = 0
for i, id in ipairs({src, dst}) do
  local meta = metas[i]
  if not meta then
    return redis.error_reply('ACCOUNT_NOT_FOUND account ' .. shown(id) .. ' does not exist')
  end
  local status, limit = string.match(meta, '^(%a+)\t[^\t]+\t%d+\t(%d+)\t')
  if not status then return redis.error_reply('CORRUPT_DATA account record ' .. shown(id)) end
  if status ~= 'active' then
    return redis.error_reply('ACCOUNT_INACTIVE account ' .. shown(id) .. ' is ' .. status)
  end
  if i == 1 then overdraft = tonumber(limit) end
end

--!include ledger_reaper

local due, bad = due_holds(now, batch)
if bad then return bad end
bad = wrong_type(audit, 'stream', src_log, 'stream', dst_log, 'stream')
if bad then return bad end
local amount = tonumber(r_amount)
local sums = redis.pcall('HMGET', balances, src, dst)
local src_held = redis.pcall('HGET', held, src)
bad = wrong_reply(balances, sums) or wrong_reply(held, src_held)
if bad then return bad end
if not (counter_ok(sums[1]) and counter_ok(sums[2]) and src_held and counter_ok(src_held)
    and tonumber(src_held) - freed(due, src) >= amount) then
  return redis.error_reply('CORRUPT_DATA the balance or held sum of ' .. shown(src) .. ' or '
    .. shown(dst) .. ' is not an integer, or holds less than hold ' .. hold
    .. '; nothing was written')
end
local src_balance, dst_balance = tonumber(sums[1] or '0'), tonumber(sums[2] or '0')
if src_balance - amount < -overdraft then
  return redis.error_reply('INSUFFICIENT_FUNDS account ' .. shown(src) .. ' has a balance of '
    .. string.format('%d', src_balance) .. ', the capture needs ' .. r_amount)
end
if dst_balance + amount > MAX then
  return invalid('amount would take the balance of ' .. shown(dst) .. ' past 15 digits',
    r_amount)
end

local id
id, bad = next_id() -- the first write
if bad then return bad end
reap(due, now, tonumber(keep_ms))
local tx = string.format('%d', id)
if redis.call('HINCRBY', held, src, '-' .. r_amount) == 0 then redis.call('HDEL', held, src) end
local src_after = redis.call('HINCRBY', balances, src, '-' .. r_amount)
local dst_after = redis.call('HINCRBY', balances, dst, r_amount)
redis.call('XADD', audit, 'MAXLEN', '~', audit_cap, '*', 'tx', tx, 'kind', 'capture',
  'src', src, 'dst', dst, 'amount', r_amount, 'memo', memo, 'hold', hold)
redis.call('XADD', src_log, 'MAXLEN', '~', history_cap, '*', 'tx', tx, 'kind', 'capture',
  'delta', '-' .. r_amount, 'balance', string.format('%d', src_after), 'peer', dst,
  'memo', memo)
redis.call('XADD', dst_log, 'MAXLEN', '~', history_cap, '*', 'tx', tx, 'kind', 'capture',
  'delta', r_amount, 'balance', string.format('%d', dst_after), 'peer', src, 'memo', memo)
local outcome = table.concat({tx, string.format('%d', src_after),
  string.format('%d', dst_after), string.format('%d', now)}, ',')
redis.call('HSET', holds, hold, table.concat({'C', src, dst, r_amount, deadline, created,
  outcome, memo}, '\t'))
redis.call('ZREM', pending, hold)
redis.call('ZADD', finished, string.format('%d', now + tonumber(keep_ms)), hold)
return {id, amount, src_after, dst_after, now, 0}
