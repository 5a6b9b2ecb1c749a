-- Account ids and amounts for the ledger scripts that move money: name_ok(id), shown(id)
-- for error texts, and minor_units(text, scale) for "<minor units>" or "d<decimal>".

local function name_ok(id)
  return #id >= 1 and #id <= 512 and not string.find(id, '[{}%c]')
end

local function shown(id)
  return '"' .. string.sub(id, 1, 64) .. '"'
end

-- Minor units of the amount at `scale`; nil and why when the scale cannot hold it.
local function minor_units(text, scale)
  if string.sub(text, 1, 1) ~= 'd' then return tonumber(text) end
  local whole, fraction = string.match(text, '^d(%d+)%.?(%d*)$')
  fraction = (string.gsub(fraction, '0+$', ''))
  if #fraction > scale then
    return nil, 'has ' .. #fraction .. ' decimal places, the scale allows ' .. scale
  end
  local digits = (string.gsub(whole .. fraction .. string.rep('0', scale - #fraction), '^0+', ''))
  if digits == '' then return nil, 'must be > 0' end
  if #digits > 15 then return nil, 'is more than 15 digits in minor units' end
  return tonumber(digits)
end
