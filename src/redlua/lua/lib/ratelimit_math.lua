-- Exact integer division for the rate-limit algorithms that divide (--!include
-- ratelimit_math, before them): every value is an integer below 2^53, but Lua divides
-- in doubles, so the quotient is corrected by one step when rounding moved it.

-- floor(a / b) for integers a >= 0, b > 0 below 2^53, exact despite double division
local function ratelimit_idiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

local function ratelimit_ceildiv(a, b)
  if a <= 0 then
    return 0
  end
  return ratelimit_idiv(a + b - 1, b)
end
