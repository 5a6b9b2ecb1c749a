-- sliding_log (uses ratelimit_base): exact, one ZSET entry per unit at KEYS[i], member
-- "<ms>:<seq, 7 digits>" and score ms; an entry counts while its score is above
-- now - period. Within one ms the seqs run 1, 2, 3, ... (a refund pops the highest),
-- so the highest member of the newest ms carries their count. The key expires a period
-- after its newest entry. State: entries in the window, the newest entry's ms (-1:
-- none), the seq of the newest entry (nil when unknown).

local function sliding_log_read(i, now, limit, period)
  local count = redis.pcall('ZCOUNT', KEYS[i], string.format('(%d', now - period), '+inf')
  if type(count) == 'table' then
    return false
  end
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  local newest = tonumber(last[2])
  if not newest then
    return count, -1, 0
  end
  local ms, seq = string.match(last[1], '^(%d+):(%d%d%d%d%d%d%d)$')
  return count, newest, tonumber(ms) == newest and tonumber(seq) or nil
end

-- allowed, remaining, retry ms, reset ms, then the state after a hit when `take`
local function sliding_log_decide(i, count, newest, seq, units, take, now, limit, period)
  local ok, retry, last = count + units <= limit, 0, newest
  if not ok then -- the entry whose expiry makes room: the (count + units - limit)-th oldest
    local entry = redis.call('ZRANGEBYSCORE', KEYS[i], string.format('(%d', now - period),
      '+inf', 'WITHSCORES', 'LIMIT', count + units - limit - 1, 1)
    retry = tonumber(entry[2]) + period - now
  elseif take then
    count, last = count + units, math.max(newest, now)
  end
  return ok, limit - count, retry, count > 0 and last + period - now or 0,
    count, newest, seq
end

-- trim the entries a period old, then add `units` entries at now (a hit) or remove the
-- `back` newest ones (a refund)
local function sliding_log_write(i, count, newest, seq, units, back, now, limit, period)
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%d', now - period))
  if back then
    if math.min(back, count) > 0 then
      redis.call('ZPOPMAX', KEYS[i], math.min(back, count))
    end
    return
  end
  local stamp = string.format('%d', now)
  if newest < now then -- no entry at now yet
    seq = 0
  elseif newest > now or not seq then -- a clock that went back: count the entries at now
    seq = redis.call('ZCOUNT', KEYS[i], stamp, stamp)
  end
  if units == 1 then
    redis.call('ZADD', KEYS[i], stamp, stamp .. string.format(':%07d', seq + 1))
  else
    local batch = {}
    for j = 1, units do -- members unique within a millisecond; seq sorts as text
      batch[#batch + 1] = stamp
      batch[#batch + 1] = stamp .. string.format(':%07d', seq + j)
      if #batch == 2000 then
        redis.call('ZADD', KEYS[i], unpack(batch))
        batch = {}
      end
    end
    if #batch > 0 then
      redis.call('ZADD', KEYS[i], unpack(batch))
    end
  end
  redis.call('PEXPIRE', KEYS[i], string.format('%d', math.max(newest, now) + period - now))
end
