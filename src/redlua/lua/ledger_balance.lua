#!lua flags=no-writes
--[[
  Read the balance of one account of a ledger, in minor units.

  KEYS[1]  accounts: HASH account id -> "status<TAB>currency<TAB>scale<TAB>overdraft<TAB>created ms"
  KEYS[2]  balances: HASH account id -> balance in minor units
  ARGV[1]  account id: 1 to 512 bytes, no braces or control characters

  The balance counts captured and transferred amounts only: held amounts are still in
  it (see the info script for what is available).

  Returns  the balance (an integer, negative within an overdraft limit).
  Errors   INVALID_ARGUMENT for a malformed account id; ACCOUNT_NOT_FOUND.
  Idempotent  yes
]]
local accounts, balances = KEYS[1], KEYS[2]
local account = ARGV[1]
if #account < 1 or #account > 512 or string.find(account, '[{}%c]') then
  return redis.error_reply('INVALID_ARGUMENT account must be an account id, got "'
    .. string.sub(account, 1, 64) .. '"')
end
if redis.call('HEXISTS', accounts, account) == 0 then
  return redis.error_reply('ACCOUNT_NOT_FOUND account "' .. string.sub(account, 1, 64)
    .. '" does not exist')
end
return tonumber(redis.call('HGET', balances, account) or '0')
