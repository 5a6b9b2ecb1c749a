-- token_bucket (uses ratelimit_base and ratelimit_math): `burst` tokens refilled
-- continuously, `limit` per period, to the millisecond. KEYS[i] holds "<level>:<ms>"
-- (level = tokens x period, an integer) until the bucket is full again. State: level,
-- the ms it was measured at.

local function token_bucket_read(i, now, limit, period, burst)
  local a, b = ratelimit_numbers(i, false)
  if a == false then
    return false
  end
  local full = burst * period
  if not a then
    return full, now
  end
  local level, stamp = math.min(a, full), b
  if now > stamp then
    if now - stamp >= ratelimit_ceildiv(full - level, limit) then
      level = full
    else
      level = level + (now - stamp) * limit
    end
    stamp = now
  end
  return level, stamp
end

-- allowed, remaining, retry ms, reset ms, then the state after a hit when `take`
local function token_bucket_decide(i, level, stamp, _, units, take, now, limit, period,
    burst)
  local full, need = burst * period, units * period
  local ok = level >= need
  if ok and take then
    level = level - need
  end
  local reset = level < full and stamp - now + ratelimit_ceildiv(full - level, limit) or 0
  local retry = ok and 0 or ratelimit_ceildiv(need - level, limit)
  return ok, ratelimit_idiv(level, period), retry, reset, level, stamp
end

-- store the state (after a refund of `back` units when given, never beyond full)
local function token_bucket_write(i, level, stamp, _, units, back, now, limit, period,
    burst)
  local full = burst * period
  if back then
    level = math.min(level + back * period, full)
  end
  if level < full then
    ratelimit_store(i, string.format('%d:%d', level, stamp),
      stamp - now + ratelimit_ceildiv(full - level, limit))
  else
    ratelimit_store(i)
  end
end
