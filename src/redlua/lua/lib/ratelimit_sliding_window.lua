-- sliding_window (uses ratelimit_base and ratelimit_math): the current window's count
-- plus the previous window's, weighted by how much of it still overlaps the period
-- ending now. KEYS[i] holds "<window index>:<current count>:<previous count>" while
-- either count weighs. State: window index, current count, previous count.

local function sliding_window_read(i, now, limit, period)
  local a, b, c = ratelimit_numbers(i, true)
  if a == false then
    return false
  end
  local window = math.floor(now / period)
  if a and a >= window then
    return a, b, c
  end
  return window, 0, (a and a == window - 1) and b or 0
end

-- allowed, remaining, retry ms, reset ms, then the state after a hit when `take`
local function sliding_window_decide(i, window, current, previous, units, take, now, limit,
    period)
  local start = window * period
  local elapsed = math.max(now - start, 0)
  local used = previous * (period - elapsed) + current * period
  local ok = used + units * period <= limit * period
  local retry = 0
  if ok and take then
    current, used = current + units, used + units * period
  elseif not ok then
    local wait -- the least time from the window's start that admits the request
    if current + units <= limit and previous > 0 then
      local room = ratelimit_idiv((limit - current - units) * period, previous)
      if room > 0 then
        wait = period - room
      end
    end
    if not wait then -- in the next window, where the current count weighs as the previous
      wait = current > 0 and 2 * period - ratelimit_idiv((limit - units) * period, current)
        or period
    end
    retry = start + wait - now
  end
  local reset = 0
  if current > 0 then
    reset = start + 2 * period - now
  elseif previous > 0 and elapsed < period then
    reset = start + period - now
  end
  return ok, ratelimit_idiv(math.max(limit * period - used, 0), period), retry, reset,
    window, current, previous
end

-- store the state (after a refund of `back` units, from the current window first)
local function sliding_window_write(i, window, current, previous, units, back, now, limit,
    period)
  local start, ttl = window * period, nil
  if back then
    local mine = math.min(back, current)
    current, previous = current - mine, math.max(previous - (back - mine), 0)
  end
  if current > 0 then
    ttl = start + 2 * period - now
  elseif previous > 0 and now - start < period then
    ttl = start + period - now
  end
  ratelimit_store(i, string.format('%d:%d:%d', window, current, previous), ttl)
end
