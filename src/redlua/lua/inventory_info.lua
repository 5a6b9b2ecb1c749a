#!lua flags=no-writes
--[[
  Read one product: stock, reserved and sold counts, price and details.

  KEYS[1]  stock: HASH product -> units available
  KEYS[2]  reserved: HASH product -> units held by pending reservations
  KEYS[3]  sold: HASH product -> units sold
  KEYS[4]  price: HASH product -> unit price in minor units (cents)
  KEYS[5]  details: HASH product -> JSON text of its name and description
  ARGV[1]  product

  Reserved units include reservations that expired but were not reaped yet (the next
  reserve or reap returns them to stock).

  Returns  {stock, reserved, sold, price, details}: counts and price as strings of
           digits, details as stored.
  Errors   PRODUCT_NOT_FOUND when the product does not exist.
  Idempotent  yes
]]
local stock, reserved, sold, price, details = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local product = ARGV[1]

local have = redis.call('HGET', stock, product)
if not have then
  return redis.error_reply('PRODUCT_NOT_FOUND product "' .. product .. '" does not exist')
end
return {
  have,
  redis.call('HGET', reserved, product) or '0',
  redis.call('HGET', sold, product) or '0',
  redis.call('HGET', price, product) or '0',
  redis.call('HGET', details, product) or '{}',
}
