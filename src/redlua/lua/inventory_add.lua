--[[
  Add a product with its stock and price, unless it exists already.

  KEYS[1]  stock: HASH product -> units available
  KEYS[2]  reserved: HASH product -> units held by pending reservations
  KEYS[3]  sold: HASH product -> units sold
  KEYS[4]  price: HASH product -> unit price in minor units (cents)
  KEYS[5]  details: HASH product -> JSON text of its name and description
  ARGV[1]  product: 1 to 512 characters, no control characters
  ARGV[2]  stock: an integer >= 0 (at most 15 digits)
  ARGV[3]  price in minor units: an integer >= 0 (at most 15 digits)
  ARGV[4]  details: text stored as given (at most 65536 bytes)

  An existing product is left as it is, whatever the arguments (use restock to add
  units), so a re-sent call is safe.

  Returns  1 when the product was added, 0 when it existed already.
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when a key it
           writes has another type (checked before any write). Nothing is written on an
           error.
  Idempotent  yes
]]
local stock, reserved, sold, price, details = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local product, units, cents, about = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

--!include check_types

local function count(text)
  return #text <= 15 and string.match(text, '^%d+$') ~= nil
    and (text == '0' or string.sub(text, 1, 1) ~= '0')
end

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(value, 1, 64) .. '"')
end

if #product == 0 or #product > 512 or string.find(product, '%c') then
  return invalid('product must be 1 to 512 characters without control characters', product)
end
if not count(units) then return invalid('stock must be an integer >= 0', units) end
if not count(cents) then return invalid('price must be an integer >= 0 (minor units)', cents) end
if #about > 65536 then return invalid('details must be at most 65536 bytes', '...') end

if redis.call('HEXISTS', stock, product) == 1 then
  return 0
end
local bad = wrong_type(reserved, 'hash', sold, 'hash', price, 'hash', details, 'hash')
if bad then return bad end
redis.call('HSET', stock, product, units)
redis.call('HSET', reserved, product, '0')
redis.call('HSET', sold, product, '0')
redis.call('HSET', price, product, cents)
redis.call('HSET', details, product, about)
return 1
