--[[
  Apply changes to many counters of one slot in one step: increments under an optional
  ceiling, decrements that never go below zero, and sets. With "each" every change applies
  or is refused on its own; with "all" every change applies, or none does.

  KEYS[1..n]  counters, each at most once, all in one slot
  ARGV[1]  "each" or "all"
  ARGV[2..n]  four entries per key, in the order of KEYS: "incr", "decr" or "set"; the
           amount (incr, decr: 1 to 2^63-1) or the value (set: -2^63 to 2^63-1); the ceiling
           (incr: "" for none, else an integer: it applies only when the value before is <=
           the ceiling, the caller passes maximum - amount; decr, set: ""); the ttl in
           milliseconds, "" for none (incr: for a counter it creates; set: replaces the
           counter's expiry, "" keeps it; decr: "")

  Every counter is read and every change decided before the first write. Values are
  compared as decimal text, never as Lua numbers, so they stay exact past 2^53.

  Returns  {applied, value, applied, value, ...}, one pair per key: applied is 1 or 0, the
           value is the counter after the change (or as it stays when refused), an integer
           or a decimal string. With "all", one refusal leaves every applied at 0.
  Errors   INVALID_ARGUMENT when an argument is malformed or a key repeats; CORRUPT_DATA
           when a counter holds no 64-bit integer; COUNTER_OVERFLOW when an increment would
           pass 2^63-1. Nothing is written on error.
  Idempotent  no
]]
local mode = ARGV[1]
local EXACT = 9007199254740992

--!include counter_int64

local function headroom(amount) -- 2^63-1 - amount, exact, for 1 <= amount <= 2^63-1
  local n = #amount
  local hi = n > 9 and tonumber(string.sub(amount, 1, n - 9)) or 0
  local lo = tonumber(string.sub(amount, math.max(1, n - 8)))
  local rhi, rlo = 9223372036 - hi, 854775807 - lo
  if rlo < 0 then
    rhi, rlo = rhi - 1, rlo + 1000000000
  end
  if rhi == 0 then
    return string.format('%.0f', rlo)
  end
  return string.format('%.0f%09.0f', rhi, rlo)
end

if mode ~= 'each' and mode ~= 'all' then
  return invalid('mode must be each or all', mode)
end
if #ARGV ~= 1 + 4 * #KEYS then
  return invalid('four arguments per key must follow the mode', #ARGV - 1)
end
local seen = {}
for i = 1, #KEYS do
  local op, amount, ceiling, ttl = unpack(ARGV, 4 * i - 2, 4 * i + 1)
  if seen[KEYS[i]] then
    return invalid('a batch may change each counter once', KEYS[i])
  end
  seen[KEYS[i]] = true
  if op == 'incr' or op == 'decr' then
    if not (int64(amount) and less('0', amount)) then
      return invalid('amount must be an integer from 1 to 2^63-1', amount)
    end
  elseif op == 'set' then
    if not int64(amount) then
      return invalid('value must be an integer from -2^63 to 2^63-1', amount)
    end
  else
    return invalid('operation must be incr, decr or set', op)
  end
  if ceiling ~= '' and (op ~= 'incr' or not integer(ceiling)) then
    return invalid('ceiling must be an integer (incr) or empty', ceiling)
  end
  if ttl ~= '' and (op == 'decr' or #ttl > 15 or not string.match(ttl, '^[1-9]%d*$')) then
    return invalid('ttl must be an integer > 0 (ms; incr, set) or empty', ttl)
  end
end

local held, ok, refused = {}, {}, false
for i = 1, #KEYS do
  local op, amount, ceiling = ARGV[4 * i - 2], ARGV[4 * i - 1], ARGV[4 * i]
  local value = redis.pcall('GET', KEYS[i])
  if type(value) == 'table' or (value and not int64(value)) then
    return redis.error_reply('CORRUPT_DATA ' .. KEYS[i] .. ' holds no 64-bit integer counter')
  end
  held[i] = value
  local before = value or '0'
  if op == 'incr' then
    ok[i] = ceiling == '' or not less(ceiling, before)
    if ok[i] and less(headroom(amount), before) then
      return redis.error_reply('COUNTER_OVERFLOW ' .. KEYS[i] .. ' holds ' .. before
        .. '; adding ' .. amount .. ' would pass 2^63-1')
    end
  elseif op == 'decr' then
    ok[i] = not less(before, amount)
  else
    ok[i] = true
  end
  refused = refused or not ok[i]
end

local out = {}
for i = 1, #KEYS do
  local op, amount, ttl = ARGV[4 * i - 2], ARGV[4 * i - 1], ARGV[4 * i + 1]
  local after = held[i] or '0'
  if ok[i] and not (refused and mode == 'all') then
    if op == 'set' then
      if ttl == '' then
        redis.call('SET', KEYS[i], amount, 'KEEPTTL')
      else
        redis.call('SET', KEYS[i], amount, 'PX', ttl)
      end
      after = amount
    else
      after = redis.call(op == 'incr' and 'INCRBY' or 'DECRBY', KEYS[i], amount)
      if not held[i] and ttl ~= '' then
        redis.call('PEXPIRE', KEYS[i], ttl)
      end
      if after >= EXACT or after <= -EXACT then
        after = redis.call('GET', KEYS[i])
      end
    end
    out[2 * i - 1] = 1
  else
    out[2 * i - 1] = 0
  end
  out[2 * i] = after
end
return out
