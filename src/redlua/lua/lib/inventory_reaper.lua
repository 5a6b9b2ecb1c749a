-- The inventory's reaper: expired reservations give their stock back exactly once.
-- Spliced into inventory_reserve and inventory_reap (--!include inventory_reaper); it uses
-- the script's locals `deadlines` (ZSET reservation -> deadline), `settled` (ZSET
-- reservation -> forget time), `records` (HASH of JSON records), `stock` and `reserved`
-- (HASH product -> units).

--!include check_types
--!include inventory_items

-- Give back the stock of up to `most` reservations whose deadline is at or before `now`
-- (marked expired, remembered `keep_ms`), then forget up to `most` settled records whose
-- keep time is over. Every due record, its items, the counts they move and the types of
-- the keys written are read and checked before the first write (a CORRUPT_DATA reply).
local function reap(at, most, keep_ms)
  local stamp = string.format('%d', at)
  local due = redis.pcall('ZRANGEBYSCORE', deadlines, '-inf', stamp, 'LIMIT', 0, most)
  local bad = wrong_reply(deadlines, due)
  if bad then return bad end
  local expired = {}
  for i, rid in ipairs(due) do
    local text = redis.pcall('HGET', records, rid)
    bad = wrong_reply(records, text)
    if bad then return bad end
    local ok, record = pcall(cjson.decode, text or '')
    if not ok or type(record) ~= 'table' or record.status ~= 'reserved'
        or not items_ok(record.items) then
      return redis.error_reply('CORRUPT_DATA reservation ' .. rid .. ' holds no pending record')
    end
    for j = 1, #record.items, 2 do
      local product = record.items[j]
      local have, held = redis.pcall('HGET', stock, product), redis.pcall('HGET', reserved, product)
      bad = wrong_reply(stock, have) or wrong_reply(reserved, held)
      if bad then return bad end
      if not (counter_ok(have) and counter_ok(held)) then
        return redis.error_reply('CORRUPT_DATA the counts of "' .. product .. '" are not'
          .. ' integers; nothing was written')
      end
    end
    expired[i] = record
  end
  local forget = redis.pcall('ZRANGEBYSCORE', settled, '-inf', stamp, 'LIMIT', 0, most)
  bad = wrong_reply(settled, forget) or (#forget > 0 and wrong_type(records, 'hash'))
  if bad then return bad end
  for i, record in ipairs(expired) do
    for j = 1, #record.items, 2 do
      local product, qty = record.items[j], tonumber(record.items[j + 1])
      redis.call('HINCRBY', stock, product, qty)
      redis.call('HINCRBY', reserved, product, -qty)
    end
    record.status = 'expired'
    record.settled = stamp
    redis.call('HSET', records, due[i], cjson.encode(record))
    redis.call('ZREM', deadlines, due[i])
    redis.call('ZADD', settled, string.format('%d', at + keep_ms), due[i])
  end
  if #forget > 0 then
    redis.call('HDEL', records, unpack(forget))
    redis.call('ZREM', settled, unpack(forget))
  end
  return {#due, #forget}
end
