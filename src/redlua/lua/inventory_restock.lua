--[[
  Add units to a product's stock.

  KEYS[1]  stock: HASH product -> units available
  KEYS[2]  reserved: HASH product -> units held by pending reservations
  KEYS[3]  sold: HASH product -> units sold
  ARGV[1]  product: 1 to 512 characters, no control characters
  ARGV[2]  quantity: an integer >= 1 (at most 12 digits)

  The product's units in stock, reserved and sold together stay below 10^15, so every
  count stays exact.

  Returns  the new stock (units available), an integer.
  Errors   INVALID_ARGUMENT when an argument is malformed or the total would reach 10^15;
           PRODUCT_NOT_FOUND when the product does not exist; CORRUPT_DATA when a count
           was not written by these scripts (all checked before the write).
  Idempotent  no
]]
local stock, reserved, sold = KEYS[1], KEYS[2], KEYS[3]
local product, qty = ARGV[1], ARGV[2]

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(value, 1, 64) .. '"')
end

if #product == 0 or #product > 512 or string.find(product, '%c') then
  return invalid('product must be 1 to 512 characters without control characters', product)
end
if #qty > 12 or not string.match(qty, '^[1-9]%d*$') then
  return invalid('quantity must be an integer >= 1', qty)
end

local have = redis.call('HGET', stock, product)
if not have then
  return redis.error_reply('PRODUCT_NOT_FOUND product "' .. product .. '" does not exist')
end
local counts = {have, redis.call('HGET', reserved, product) or '0',
  redis.call('HGET', sold, product) or '0'}
local total = 0
for _, value in ipairs(counts) do
  if not string.match(value, '^%d+$') then
    return redis.error_reply('CORRUPT_DATA the counts of "' .. product .. '" are not integers')
  end
  total = total + tonumber(value)
end
if total + tonumber(qty) >= 1e15 then
  return invalid('stock, reserved and sold together must stay below 10^15', qty)
end
return redis.call('HINCRBY', stock, product, qty)
