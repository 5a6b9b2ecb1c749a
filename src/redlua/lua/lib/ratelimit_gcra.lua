-- gcra (uses ratelimit_base and ratelimit_math): the generic cell rate algorithm, the
-- token bucket's admissions kept as one theoretical arrival time. KEYS[i] holds
-- "<a>:<b>", the time a + b / limit ms, until it passes. State: debt = (arrival time -
-- now) x limit, never below 0.

local function gcra_read(i, now, limit)
  local a, b = ratelimit_numbers(i, false)
  if a == false then
    return false
  end
  return (a and a >= now) and (a - now) * limit + b or 0
end

-- allowed, remaining, retry ms, reset ms, then the state after a hit when `take`
local function gcra_decide(i, debt, _, _, units, take, now, limit, period, burst)
  local tolerance, need = burst * period, units * period
  local ok = debt + need <= tolerance
  if ok and take then
    debt = debt + need
  end
  local retry = ok and 0 or ratelimit_ceildiv(debt + need - tolerance, limit)
  return ok, ratelimit_idiv(math.max(tolerance - debt, 0), period), retry,
    ratelimit_ceildiv(debt, limit), debt
end

-- store the state (after a refund of `back` units when given)
local function gcra_write(i, debt, _, _, units, back, now, limit, period)
  if back then
    debt = math.max(debt - back * period, 0)
  end
  if debt > 0 then
    local whole = ratelimit_idiv(debt, limit)
    ratelimit_store(i, string.format('%d:%d', now + whole, debt - whole * limit),
      ratelimit_ceildiv(debt, limit))
  else
    ratelimit_store(i)
  end
end
