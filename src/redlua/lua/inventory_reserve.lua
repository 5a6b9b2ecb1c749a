--[[
  Reserve one or more products (a cart) for a customer until a deadline, all or nothing.

  KEYS[1]  stock: HASH product -> units available
  KEYS[2]  reserved: HASH product -> units held by pending reservations
  KEYS[3]  reservations: HASH reservation id -> record (JSON, written by these scripts)
  KEYS[4]  deadlines: ZSET pending reservation id -> deadline in server milliseconds
  KEYS[5]  settled: ZSET settled reservation id -> when its record is forgotten (ms)
  ARGV[1]  reservation id: 1 to 64 letters, digits, "_" or "-"
  ARGV[2]  customer: 1 to 512 characters, no control characters
  ARGV[3]  ttl in milliseconds: an integer > 0 (at most 15 digits)
  ARGV[4]  reap limit: at most this many expired reservations are reaped first (1 to 1000)
  ARGV[5]  keep in milliseconds: how long a settled record is remembered (integer > 0)
  ARGV[6..n]  product, quantity pairs: distinct products, quantities integers >= 1 (at
           most 12 digits); 1 to 100 pairs

  The time is the server's (TIME). Every product must exist. A reservation id that
  exists already is a replay (a re-sent call): nothing is reserved again and the
  record's deadline is returned, with the products' current stock. Otherwise up to
  the reap limit of expired reservations give their stock back and up to as many
  settled records past their keep time are forgotten; then either every product has
  the quantity (it moves from stock to reserved, the record is written and indexed by
  deadline) or nothing is reserved.

  Returns  {1, deadline ms, {product, stock left, ...}} when reserved;
           {0, 0, {product, stock available, ...}} when some product is short;
           {2, deadline ms, {product, stock available, ...}} for a replay.
  Errors   INVALID_ARGUMENT when an argument is malformed; PRODUCT_NOT_FOUND when a
           product does not exist; RESERVATION_EXISTS when the id names a reservation
           of other items; CORRUPT_DATA when a stock, counter or record was not
           written by these scripts, or one of the keys has another type (all checked
           before any write).
  Idempotent  yes
]]
local stock, reserved, records, deadlines, settled = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, customer, ttl, limit, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local function positive(text, digits)
  return #text <= digits and string.match(text, '^[1-9]%d*$') ~= nil
end

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(value, 1, 64) .. '"')
end

local function name(text)
  return #text > 0 and #text <= 512 and not string.find(text, '%c')
end

if #id > 64 or not string.match(id, '^[%w_-]+$') then
  return invalid('reservation id must be 1 to 64 letters, digits, _ or -', id)
end
if not name(customer) then
  return invalid('customer must be 1 to 512 characters without control characters', customer)
end
if not positive(ttl, 15) then return invalid('ttl must be an integer > 0 (ms)', ttl) end
if not positive(limit, 4) or tonumber(limit) > 1000 then
  return invalid('reap limit must be an integer from 1 to 1000', limit)
end
if not positive(keep, 15) then return invalid('keep must be an integer > 0 (ms)', keep) end
local pairs_given = #ARGV - 5
if pairs_given < 2 or pairs_given % 2 ~= 0 or pairs_given > 200 then
  return invalid('items must be 1 to 100 product, quantity pairs', tostring(pairs_given))
end

local products, quantities, seen = {}, {}, {}
for i = 6, #ARGV, 2 do
  local product, qty = ARGV[i], ARGV[i + 1]
  if not name(product) then
    return invalid('product must be 1 to 512 characters without control characters', product)
  end
  if seen[product] then return invalid('products must be distinct', product) end
  if not positive(qty, 12) then return invalid('quantity must be an integer >= 1', qty) end
  seen[product] = true
  products[#products + 1] = product
  quantities[#quantities + 1] = qty
end

--!include inventory_reaper

for _, product in ipairs(products) do
  local have, held = redis.pcall('HGET', stock, product), redis.pcall('HGET', reserved, product)
  local bad = wrong_reply(stock, have) or wrong_reply(reserved, held)
  if bad then return bad end
  if not have then
    return redis.error_reply('PRODUCT_NOT_FOUND product "' .. product .. '" does not exist')
  end
  if not (string.match(have, '^%d+$') and counter_ok(have)) then
    return redis.error_reply('CORRUPT_DATA ' .. stock .. ' holds no stock for "' .. product .. '"')
  end
  if not counter_ok(held) then
    return redis.error_reply('CORRUPT_DATA ' .. reserved .. ' holds no count for "' .. product
      .. '"')
  end
end

local function stock_of()
  local flat = {}
  for i, product in ipairs(products) do
    flat[2 * i - 1] = product
    flat[2 * i] = tonumber(redis.call('HGET', stock, product))
  end
  return flat
end

local known = redis.pcall('HGET', records, id)
local bad = wrong_reply(records, known)
if bad then return bad end
if known then
  local ok, record = pcall(cjson.decode, known)
  if not ok or type(record) ~= 'table' or type(record.items) ~= 'table' then
    return redis.error_reply('CORRUPT_DATA reservation ' .. id .. ' holds no record')
  end
  local same = #record.items == 2 * #products
  for i, product in ipairs(products) do
    same = same and record.items[2 * i - 1] == product and record.items[2 * i] == quantities[i]
  end
  if not same then
    return redis.error_reply('RESERVATION_EXISTS reservation ' .. id .. ' holds other items')
  end
  return {2, tonumber(record.deadline), stock_of()}
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local reaped = reap(now, tonumber(limit), tonumber(keep))
if reaped.err then return reaped end

local available = stock_of()
for i = 1, #products do
  if available[2 * i] < tonumber(quantities[i]) then
    return {0, 0, available}
  end
end

local deadline = now + tonumber(ttl)
local items = {}
for i, product in ipairs(products) do
  local qty = tonumber(quantities[i])
  redis.call('HINCRBY', stock, product, -qty)
  redis.call('HINCRBY', reserved, product, qty)
  available[2 * i] = available[2 * i] - qty
  items[2 * i - 1] = product
  items[2 * i] = quantities[i]
end
redis.call('HSET', records, id, cjson.encode({
  status = 'reserved', customer = customer, items = items,
  created = string.format('%d', now), deadline = string.format('%d', deadline),
}))
redis.call('ZADD', deadlines, string.format('%d', deadline), id)
return {1, deadline, available}
