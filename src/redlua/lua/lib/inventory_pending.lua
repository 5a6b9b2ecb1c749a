-- The checks a settle script (inventory_confirm, inventory_cancel) makes before its first
-- write, once the reservation is known to be pending: the index keys' types, the record's
-- items, and for each item that `reserved` holds at least its quantity and that the
-- script's `counted` key (the stock hash on cancel, the sold hash on confirm) holds a
-- counter (`what` names it in the error). Returns an error reply, or nil when the script
-- may write.

local function check_pending(what)
  local bad = wrong_type(deadlines, 'zset', settled, 'zset')
  if bad then return bad end
  if not items_ok(record.items) then
    return redis.error_reply('CORRUPT_DATA reservation ' .. id .. ' holds no items')
  end
  for i = 1, #record.items, 2 do
    local product = record.items[i]
    local held = redis.pcall('HGET', reserved, product)
    local have = redis.pcall('HGET', counted, product)
    bad = wrong_reply(reserved, held) or wrong_reply(counted, have)
    if bad then return bad end
    if not (held and counter_ok(held) and tonumber(held) >= tonumber(record.items[i + 1])) then
      return redis.error_reply('CORRUPT_DATA ' .. reserved .. ' holds less than reservation '
        .. id .. ' of "' .. product .. '"')
    end
    if not counter_ok(have) then
      return redis.error_reply('CORRUPT_DATA ' .. counted .. ' holds no ' .. what .. ' for "'
        .. product .. '"')
    end
  end
  return nil
end
