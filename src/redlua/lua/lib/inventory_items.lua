-- The items of an inventory reservation record: items_ok(items) is true for a flat list
-- {product, quantity, ...} as inventory_reserve writes it, products being 1 to 512
-- characters without control characters and quantities integers >= 1 of at most 12
-- digits. Every script that moves a record's quantities checks them first.

local function items_ok(items)
  if type(items) ~= 'table' or #items == 0 or #items % 2 ~= 0 then return false end
  for j = 1, #items, 2 do
    local product, qty = items[j], items[j + 1]
    if type(product) ~= 'string' or #product == 0 or #product > 512
        or string.find(product, '%c') or (type(qty) ~= 'string' and type(qty) ~= 'number') then
      return false
    end
    qty = tostring(qty)
    if #qty > 12 or not string.match(qty, '^[1-9]%d*$') then return false end
  end
  return true
end
