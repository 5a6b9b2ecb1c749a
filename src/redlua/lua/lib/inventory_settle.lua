-- The start of a settle script (inventory_confirm, inventory_cancel): check the
-- reservation id and keep time (the script's locals `id` and `keep`), then read and decode
-- the reservation's record from `records` into `record`, refusing an unknown id
-- (RESERVATION_NOT_FOUND) or a record these scripts did not write (CORRUPT_DATA).

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(value, 1, 64) .. '"')
end

if #id > 64 or not string.match(id, '^[%w_-]+$') then
  return invalid('reservation id must be 1 to 64 letters, digits, _ or -', id)
end
if #keep > 15 or not string.match(keep, '^[1-9]%d*$') then
  return invalid('keep must be an integer > 0 (ms)', keep)
end

local text = redis.call('HGET', records, id)
if not text then
  return redis.error_reply('RESERVATION_NOT_FOUND reservation ' .. id .. ' does not exist')
end
local ok, record = pcall(cjson.decode, text)
if not ok or type(record) ~= 'table' or type(record.items) ~= 'table'
    or not tonumber(record.deadline) then
  return redis.error_reply('CORRUPT_DATA reservation ' .. id .. ' holds no record')
end
