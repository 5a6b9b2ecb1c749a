-- 64-bit integers as decimal text, compared without rounding (Lua numbers are doubles):
-- integer(text), less(a, b), int64(text) within [-2^63, 2^63-1], and invalid(what, value)
-- for the INVALID_ARGUMENT reply. Shared by the counter scripts.

local INT64_MAX, INT64_MIN = '9223372036854775807', '-9223372036854775808'

local function integer(text)
  return text == '0' or (#text <= 24 and string.find(text, '^%-?[1-9]%d*$') ~= nil)
end

local function less(a, b) -- a < b for integer texts of any length, without rounding
  if #a < 16 and #b < 16 then return tonumber(a) < tonumber(b) end -- exact in a double
  if a == b then return false end
  local na, nb = string.byte(a) == 45, string.byte(b) == 45
  if na ~= nb then return na end
  local da, db = na and string.sub(a, 2) or a, nb and string.sub(b, 2) or b
  if #da ~= #db then return (#da < #db) ~= na end
  for i = 1, #da, 15 do
    local x, y = tonumber(string.sub(da, i, i + 14)), tonumber(string.sub(db, i, i + 14))
    if x ~= y then return (x < y) ~= na end
  end
  return false
end

local function int64(text)
  return integer(text) and (#text < 19 or not (less(INT64_MAX, text) or less(text, INT64_MIN)))
end

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(tostring(value), 1, 64) .. '"')
end
