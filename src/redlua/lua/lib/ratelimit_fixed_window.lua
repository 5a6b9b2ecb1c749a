-- fixed_window (uses ratelimit_base): at most `limit` units per window, windows aligned
-- on multiples of the period since the epoch. KEYS[i] holds "<window index>:<count>"
-- until its window ends. State: window index, count.

local function fixed_window_read(i, now, limit, period)
  local a, b = ratelimit_numbers(i, false)
  if a == false then
    return false
  end
  local window = math.floor(now / period)
  if a and a >= window then -- the same window (or a later one: a clock that went back)
    return a, b
  end
  return window, 0
end

-- allowed, remaining, retry ms, reset ms, then the state after a hit when `take`
local function fixed_window_decide(i, window, count, _, units, take, now, limit, period)
  local ok = count + units <= limit
  if ok and take then
    count = count + units
  end
  local left = (window + 1) * period - now
  return ok, limit - count, ok and 0 or left, count > 0 and left or 0, window, count
end

-- store the state (after a refund of `back` units when given)
local function fixed_window_write(i, window, count, _, units, back, now, limit, period)
  if back then
    count = math.max(count - back, 0)
  end
  if count > 0 then
    ratelimit_store(i, string.format('%d:%d', window, count), (window + 1) * period - now)
  else
    ratelimit_store(i)
  end
end
