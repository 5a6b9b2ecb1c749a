-- Argument checks shared by the ledger scripts: invalid(what, value) builds the
-- INVALID_ARGUMENT reply; count(text, digits) is true for an integer >= 1 of at most
-- `digits` digits.

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(value, 1, 64) .. '"')
end

local function count(text, digits)
  return #text <= digits and string.match(text, '^[1-9]%d*$') ~= nil
end
