-- sliding_log (uses ratelimit_base): exact, one LIST entry per unit at KEYS[i], the
-- unit's ms, newest first; an entry counts while it is above now - period. The list
-- stays sorted: a hit stamped before the newest entry (a clock that went back) is
-- recorded at the newest entry's ms, so it expires a little later, never earlier. Every
-- write drops the expired entries, so the list holds at most `limit` entries, and the
-- key expires a period after its newest entry. State: entries in the window, entries
-- in the list, the newest entry's ms (-1: none).

local function sliding_log_read(i, now, limit, period)
  local key = KEYS[i]
  local length = redis.pcall('LLEN', key)
  if type(length) == 'table' then
    return false
  end
  if length == 0 then
    return 0, 0, -1
  end
  local newest = tonumber(redis.call('LINDEX', key, 0))
  local oldest = tonumber(redis.call('LINDEX', key, -1))
  if not newest or not oldest or oldest > newest then
    return false
  end
  local edge = now - period
  if oldest > edge then -- the common case: nothing expired
    return length, length, newest
  elseif newest <= edge then
    return 0, length, newest
  end
  -- the first expired index: gallop from the tail (few entries expire between two
  -- hits), then bisect; `low` is in the window, `high` is not
  local low, high, step = 0, length - 1, 1
  while high - low > 1 do
    local probe = math.floor((low + high) / 2)
    if step and high - step > probe then
      probe = high - step
    end
    local at = tonumber(redis.call('LINDEX', key, probe))
    if not at then
      return false
    end
    if at > edge then
      low, step = probe, nil
    else
      high, step = probe, step and step * 2
    end
  end
  return high, length, newest
end

-- allowed, remaining, retry ms, reset ms, then the state as read (the write of a hit
-- trims what was expired before it pushes)
local function sliding_log_decide(i, count, length, newest, units, take, now, limit, period)
  local ok, retry, used, last = count + units <= limit, 0, count, newest
  if not ok then -- the entry whose expiry makes room: the (count + units - limit)-th
    -- oldest in the window, which is at index limit - units (newest first)
    retry = (tonumber(redis.call('LINDEX', KEYS[i], limit - units)) or now) + period - now
  elseif take then
    used, last = count + units, math.max(newest, now)
  end
  return ok, limit - used, retry, used > 0 and last + period - now or 0,
    count, length, newest
end

-- drop the expired entries, then push `units` entries (a hit) or drop the `back`
-- newest ones too (a refund); numbers go to redis.call as they are (integers print
-- exactly)
local function sliding_log_write(i, count, length, newest, units, back, now, limit, period)
  local key = KEYS[i]
  if back then
    local drop = math.min(back, count)
    if drop == count then
      redis.call('DEL', key)
    else
      redis.call('LTRIM', key, drop, count - 1)
    end
    return
  end
  -- under maxmemory, a script without flags may go on writing once a first write has
  -- passed: make it one that needs no memory (the trim, the expiry, or a DEL of the
  -- absent key), so a full server still counts hits and never admits past the limit
  local stamp = newest > now and newest or now
  if count == 0 then
    redis.call('DEL', key)
  else
    if count < length then
      redis.call('LTRIM', key, 0, count - 1)
    end
    redis.call('PEXPIRE', key, stamp + period - now)
  end
  if units == 1 then
    redis.call('LPUSH', key, stamp)
  else
    local batch = {}
    for j = 1, units do
      batch[#batch + 1] = stamp
      if #batch == 4000 or j == units then
        redis.call('LPUSH', key, unpack(batch))
        batch = {}
      end
    end
  end
  if count == 0 then
    redis.call('PEXPIRE', key, stamp + period - now)
  end
end
