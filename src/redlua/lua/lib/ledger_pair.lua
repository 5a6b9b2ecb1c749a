-- The two accounts of a money movement (transfer, hold): read `src` and `dst` from
-- `accounts`, refuse a missing (ACCOUNT_NOT_FOUND), unreadable (CORRUPT_DATA) or inactive
-- (ACCOUNT_INACTIVE) one and different currencies or scales (CURRENCY_MISMATCH), then set
-- `parsed` ({currency, scale, overdraft} per account) and `amount` (minor units of
-- `amount_arg`). Needs ledger_args and ledger_amounts.

local metas = redis.call('HMGET', accounts, src, dst)
local parsed = {}
for i, id in ipairs({src, dst}) do
  local meta = metas[i]
  if not meta then
    return redis.error_reply('ACCOUNT_NOT_FOUND account ' .. shown(id) .. ' does not exist')
  end
  local status, currency, scale, overdraft = string.match(meta,
    '^(%a+)\t([^\t]+)\t(%d+)\t(%d+)\t')
  if not status then return redis.error_reply('CORRUPT_DATA account record ' .. shown(id)) end
  if status ~= 'active' then
    return redis.error_reply('ACCOUNT_INACTIVE account ' .. shown(id) .. ' is ' .. status)
  end
  parsed[i] = {currency, tonumber(scale), tonumber(overdraft)}
end
if parsed[1][1] ~= parsed[2][1] or parsed[1][2] ~= parsed[2][2] then
  return redis.error_reply('CURRENCY_MISMATCH account ' .. shown(src) .. ' holds '
    .. parsed[1][1] .. ', account ' .. shown(dst) .. ' holds ' .. parsed[2][1])
end
local amount, why = minor_units(amount_arg, parsed[1][2])
if not amount then return invalid('amount in ' .. parsed[1][1] .. ' ' .. why, amount_arg) end
