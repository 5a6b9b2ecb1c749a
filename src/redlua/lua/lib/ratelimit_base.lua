-- What every rate-limit script shares (--!include ratelimit_base, first): the checks of
-- ARGV, the clock and the state strings. A request is ARGV[1] mode ("hit", "peek" or
-- "refund"), ARGV[2] now in ms ("": the server's TIME) and ARGV[3] cost; a limit is an
-- algorithm, a limit, a period (ms) and a burst. Each algorithm library defines
-- <algorithm>_read, _decide and _write over the limit at KEYS[i]; ratelimit_apply runs
-- them for several limits at once, ratelimit_single for one.

-- An INVALID_ARGUMENT reply saying what is wrong and quoting (the start of) the value.
local function ratelimit_invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(tostring(value), 1, 64) .. '"')
end

-- The CORRUPT_DATA reply for the limit at KEYS[i].
local function ratelimit_corrupt(i, algorithm)
  return redis.error_reply('CORRUPT_DATA ' .. KEYS[i] .. ' holds no ' .. algorithm
    .. ' state')
end

-- `text` as a whole number from `lowest` to `highest`, else nil (NaN, infinities and
-- fractions fail too).
local function ratelimit_whole(text, lowest, highest)
  local value = tonumber(text)
  if value and value >= lowest and value <= highest and value % 1 == 0 then
    return value
  end
end

-- The request of ARGV[1..3]: now (ms; TIME when ARGV[2] is empty) and cost, or nil and
-- an INVALID_ARGUMENT reply.
local function ratelimit_request()
  local mode, clock = ARGV[1], ARGV[2]
  if mode ~= 'hit' and mode ~= 'peek' and mode ~= 'refund' then
    return nil, ratelimit_invalid('mode must be hit, peek or refund', mode)
  end
  local cost = ratelimit_whole(ARGV[3], 1, 1e9)
  if not cost then
    return nil, ratelimit_invalid('cost must be an integer from 1 to 10^9', ARGV[3])
  end
  if clock ~= '' then
    local now = ratelimit_whole(clock, 0, 999999999999999)
    if not now then
      return nil, ratelimit_invalid('now must be an integer >= 0 (ms) or empty', clock)
    end
    return now, cost
  end
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000), cost
end

-- One limit's numbers from ARGV text: limit, period (ms) and burst, the burst read only
-- for token_bucket and gcra (the others take their limit); or nil and an
-- INVALID_ARGUMENT reply. A hit or a peek may not cost more than the capacity.
local function ratelimit_limit(algorithm, limit, period, burst, mode, cost)
  local most = algorithm == 'sliding_log' and 1e6 or 1e9
  local units = ratelimit_whole(limit, 1, most)
  if not units then
    return nil, ratelimit_invalid('limit of ' .. algorithm
      .. ' must be an integer from 1 to ' .. most, limit)
  end
  local ms = ratelimit_whole(period, 1, 1e12)
  if not ms then
    return nil, ratelimit_invalid('period must be an integer from 1 to 10^12 (ms)', period)
  end
  local capacity = units
  if algorithm == 'token_bucket' or algorithm == 'gcra' then
    capacity = ratelimit_whole(burst, 1, 1e9)
    if not capacity then
      return nil, ratelimit_invalid('burst must be an integer from 1 to 10^9', burst)
    end
    if capacity * ms > 1e15 then
      return nil, ratelimit_invalid('burst x period must be at most 10^15', capacity)
    end
  elseif algorithm == 'sliding_window' and units * ms > 1e15 then
    return nil, ratelimit_invalid('limit x period must be at most 10^15', units)
  end
  if mode ~= 'refund' and cost > capacity then
    return nil, ratelimit_invalid('cost exceeds the capacity ' .. capacity .. ' of a '
      .. algorithm .. ' limit', cost)
  end
  return units, ms, capacity
end

-- The numbers of the state string "a:b" (or "a:b:c" when `three`) at KEYS[i]: a, b, c;
-- nothing when the key is absent; false when it holds anything else.
local function ratelimit_numbers(i, three)
  local value = redis.pcall('GET', KEYS[i])
  if not value then
    return
  end
  if type(value) == 'table' or #value > 50 then
    return false
  end
  local a, b, c = string.match(value, '^(%d+):(%d+):?(%d*)$')
  if not a or (c == '') == three then
    return false
  end
  return tonumber(a), tonumber(b), tonumber(c)
end

-- Keep `value` at KEYS[i] for `ttl` ms, or delete the key when there is no ttl (the
-- limit is full again: nothing worth keeping).
local function ratelimit_store(i, value, ttl)
  if ttl then
    redis.call('SET', KEYS[i], value, 'PX', string.format('%d', ttl))
  else
    redis.call('DEL', KEYS[i])
  end
end
