-- The ledger's lazy reaper: pending holds whose deadline passed give their amount back.
-- Spliced into every ledger script that reaps (--!include ledger_reaper); it uses the
-- script's locals `pending` (ZSET hold id -> deadline), `holds` (HASH of hold records),
-- `held` (HASH account -> reserved minor units) and `finished` (ZSET hold id -> purge time).
-- Scripts call due_holds() with their reads (it reads and checks all the reaper will
-- touch), and reap() with their writes.

--!include check_types

local PURGE_SLICE = 1000 -- ids per HDEL/ZREM: unpack() fails past about 8000 values

-- What the reaper will do at `now`, read only: the pending holds due (deadline at or
-- before now, at most `batch`, hold `skip` left out), each {id, source account, amount,
-- record}, where a record that cannot be read has no source; and in `.purge` at most
-- `batch` finished holds whose record is to be purged. Returns nil and a CORRUPT_DATA
-- reply instead when a key the reaper would write has another type, or a source's held
-- sum is no integer. Its reads prove the keys' types: a TYPE is sent only for `holds`,
-- and only when records are purged without one being read.
local function due_holds(now, batch, skip)
  local stamp = string.format('%d', now)
  local ids = redis.pcall('ZRANGEBYSCORE', pending, '-inf', stamp, 'LIMIT', 0,
    tonumber(batch) + (skip and 1 or 0))
  local bad = wrong_reply(pending, ids)
  if bad then return nil, bad end
  local due = {}
  for _, id in ipairs(ids) do
    if id ~= skip and #due < tonumber(batch) then
      local record = redis.pcall('HGET', holds, id)
      bad = wrong_reply(holds, record)
      if bad then return nil, bad end
      local src, amount = string.match(record or '', '^P\t([^\t]+)\t[^\t]+\t(%d+)\t')
      if src then
        local sum = redis.pcall('HGET', held, src)
        bad = wrong_reply(held, sum)
        if bad then return nil, bad end
        if #amount > 15 or not counter_ok(sum) then
          return nil, redis.error_reply('CORRUPT_DATA hold ' .. id .. ' or the held sum of "'
            .. string.sub(src, 1, 64) .. '" is not an integer; nothing was written')
        end
      end
      due[#due + 1] = {id, src, tonumber(amount or '0'), record or ''}
    end
  end
  due.purge = redis.pcall('ZRANGEBYSCORE', finished, '-inf', stamp, 'LIMIT', 0, batch)
  bad = wrong_reply(finished, due.purge) or (#due.purge > 0 and wrong_type(holds, 'hash'))
  if bad then return nil, bad end
  return due
end

-- The minor units the due holds give back to `account`.
local function freed(due, account)
  local sum = 0
  for _, hold in ipairs(due) do
    if hold[2] == account then sum = sum + hold[3] end
  end
  return sum
end

-- Release the due holds (their records turn "E", expired, kept `keep` ms), then purge
-- the finished records due_holds() found, in slices. Returns how many were released.
local function reap(due, now, keep)
  for _, hold in ipairs(due) do
    local id, src, amount, record = hold[1], hold[2], hold[3], hold[4]
    if src then
      if redis.call('HINCRBY', held, src, string.format('%d', -amount)) == 0 then
        redis.call('HDEL', held, src)
      end
      redis.call('HSET', holds, id, 'E' .. string.sub(record, 2))
      redis.call('ZADD', finished, string.format('%d', now + keep), id)
    else
      redis.call('HDEL', holds, id)
    end
    redis.call('ZREM', pending, id)
  end
  local old = due.purge
  for first = 1, #old, PURGE_SLICE do
    local last = math.min(first + PURGE_SLICE - 1, #old)
    redis.call('HDEL', holds, unpack(old, first, last))
    redis.call('ZREM', finished, unpack(old, first, last))
  end
  return #due
end
