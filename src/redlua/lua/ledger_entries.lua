#!lua flags=no-writes
--[[
  Read a page of a ledger stream (an account's history, or the audit), newest first.

  KEYS[1]  the stream: an account's history or the ledger's audit
  KEYS[2]  (optional) accounts: HASH account id -> record, to check the account exists
  ARGV[1]  page size: an integer from 1 to 1000
  ARGV[2]  cursor: "+" for the newest entries, else an entry id "<ms>-<seq>"; the page
           starts after it (older entries only)
  ARGV[3]  (optional) account id, checked against KEYS[2] when that is given

  Returns  the entries as XREVRANGE gives them: {{id, {field, value, ...}}, ...}.
  Errors   INVALID_ARGUMENT for a malformed argument; ACCOUNT_NOT_FOUND when the
           accounts key is given and lacks the account.
  Idempotent  yes
]]
local stream, accounts = KEYS[1], KEYS[2]
local size, cursor, account = ARGV[1], ARGV[2], ARGV[3]

--!include ledger_args

if not (string.match(size, '^[1-9]%d?%d?%d?$') and tonumber(size) <= 1000) then
  return invalid('page size must be 1 to 1000', size)
end
if cursor ~= '+' and not (#cursor <= 41 and string.match(cursor, '^%d+%-%d+$')) then
  return invalid('cursor must be "+" or an entry id', cursor)
end
if accounts then
  if not account then return invalid('an account id must come with the accounts key', '') end
  if redis.call('HEXISTS', accounts, account) == 0 then
    return redis.error_reply('ACCOUNT_NOT_FOUND account "' .. string.sub(account, 1, 64)
      .. '" does not exist')
  end
end
local start = (cursor == '+' and '+') or ('(' .. cursor)
return redis.call('XREVRANGE', stream, start, '-', 'COUNT', size)
