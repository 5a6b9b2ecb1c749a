--[[
  Apply one request to every rate limit of an identity, all or nothing: a hit consumes
  `cost` units from each limit only when every limit admits it (a denied hit writes
  nothing), a peek reads what a hit would get, a refund gives `cost` units back.

  KEYS[1..n]  one state key per limit, in the order of the limit entries of ARGV, all
              in one hash slot; the type depends on the algorithm:
              sliding_log     LIST of entries "<ms>", one per unit, newest first
              sliding_window  string "<window index>:<current count>:<previous count>"
              fixed_window    string "<window index>:<count>"
              token_bucket    string "<level>:<ms>", level = tokens x period (ms)
              gcra            string "<a>:<b>": theoretical arrival time a + b / limit ms
  ARGV[1]  mode: "hit", "peek" or "refund"
  ARGV[2]  now in milliseconds (an integer >= 0, at most 15 digits), or "" for the
           server's clock (TIME)
  ARGV[3]  cost: units to consume or give back, an integer from 1 to 10^9; a hit or a
           peek may not ask for more than a limit's capacity (its limit, or its burst)
  ARGV[4..n]  four entries per limit: algorithm ("sliding_log", "sliding_window",
           "fixed_window", "token_bucket" or "gcra"), limit (units per period, an
           integer from 1 to 10^9, at most 10^6 for sliding_log), period in milliseconds
           (an integer from 1 to 10^12), burst (the capacity of token_bucket and gcra, an
           integer from 1 to 10^9; the others ignore it). For sliding_window,
           limit x period, and for token_bucket and gcra, burst x period, is at most
           10^15, so every sum below is an exact integer.

  Windows are aligned on multiples of the period since the epoch (fixed_window,
  sliding_window), or end at now (sliding_log: an entry counts while its ms is above
  now - period). The buckets refill continuously, limit units per period, to burst.
  Every write sets a PEXPIRE that ends when the state no longer matters (a state that is
  full again is deleted), so nothing outlives its period. A refund never goes beyond a
  full limit; in a sliding_log it removes the newest entries. The algorithms live in
  lua/lib (ratelimit_<algorithm>.lua), shared with the one-limit scripts
  ratelimit_apply_<algorithm>, which read and write the same state.

  Returns  {allowed (1/0), then per limit: allowed (1/0), remaining units, retry after
           (ms), reset after (ms)}, all integers. For a hit, remaining and reset describe
           the state after it; for a peek and a refund, the state as it is (after the
           refund), and a refund's "allowed" and "retry after" are those of a one-unit
           peek. Retry after is the wait until the same request is admitted (0 when it
           is); reset after, until the limit is full again.
  Errors   INVALID_ARGUMENT when an argument is malformed or the cost exceeds a
           capacity; CORRUPT_DATA when a key holds what this script does not write
           (nothing is written in either case).
  Idempotent  no
]]
--!include ratelimit_base
--!include ratelimit_math
--!include ratelimit_sliding_log
--!include ratelimit_sliding_window
--!include ratelimit_fixed_window
--!include ratelimit_token_bucket
--!include ratelimit_gcra

local READ = {sliding_log = sliding_log_read, sliding_window = sliding_window_read,
  fixed_window = fixed_window_read, token_bucket = token_bucket_read, gcra = gcra_read}
local DECIDE = {sliding_log = sliding_log_decide, sliding_window = sliding_window_decide,
  fixed_window = fixed_window_decide, token_bucket = token_bucket_decide,
  gcra = gcra_decide}
local WRITE = {sliding_log = sliding_log_write, sliding_window = sliding_window_write,
  fixed_window = fixed_window_write, token_bucket = token_bucket_write, gcra = gcra_write}

local now, cost = ratelimit_request()
if not now then
  return cost
end
local mode, n = ARGV[1], #KEYS
if n == 0 or #ARGV ~= 3 + 4 * n then
  return ratelimit_invalid('need one key and four arguments per limit, keys', n)
end
-- limit i: its algorithm, numbers and state (S[3i-2 .. 3i], as its library reads it)
local algorithm, limit, period, burst, S = {}, {}, {}, {}, {}
for i = 1, n do
  local name = ARGV[4 * i]
  if not READ[name] then
    return ratelimit_invalid('algorithm must be sliding_log, sliding_window, fixed_window, '
      .. 'token_bucket or gcra', name)
  end
  local l, p, b = ratelimit_limit(name, ARGV[4 * i + 1], ARGV[4 * i + 2], ARGV[4 * i + 3],
    mode, cost)
  if not l then
    return p
  end
  algorithm[i], limit[i], period[i], burst[i] = name, l, p, b
end

local function read(i) -- false when the key holds something else
  local at = 3 * i - 2
  local s1, s2, s3 = READ[algorithm[i]](i, now, limit[i], period[i], burst[i])
  S[at], S[at + 1], S[at + 2] = s1, s2, s3
  return s1 ~= false
end

for i = 1, n do
  if not read(i) then
    return ratelimit_corrupt(i, algorithm[i])
  end
end

-- a hit consumes only when every limit admits it, so several limits decide before taking
local function answer(units, take)
  local reply, all, alone = {1}, true, n == 1
  for pass = 1, 2 do
    local taking = take and (alone or pass == 2)
    for i = 1, n do
      local at = 3 * i - 2
      local ok, remaining, retry, reset, s1, s2, s3 = DECIDE[algorithm[i]](i, S[at],
        S[at + 1], S[at + 2], units, taking, now, limit[i], period[i], burst[i])
      if taking then
        S[at], S[at + 1], S[at + 2] = s1, s2, s3
      end
      all = all and ok
      local out = 4 * i - 2
      reply[out], reply[out + 1] = ok and 1 or 0, math.max(remaining, 0)
      reply[out + 2], reply[out + 3] = math.max(retry, 0), math.max(reset, 0)
    end
    if alone or not take or not all or pass == 2 then
      break
    end
  end
  reply[1] = all and 1 or 0
  return reply, all
end

local function write(i, back)
  local at = 3 * i - 2
  WRITE[algorithm[i]](i, S[at], S[at + 1], S[at + 2], cost, back, now, limit[i], period[i],
    burst[i])
end

if mode == 'peek' then
  return (answer(cost, false))
end
if mode == 'hit' then
  local reply, all = answer(cost, true)
  if all then
    for i = 1, n do
      write(i)
    end
  end
  return reply
end
for i = 1, n do
  write(i, cost)
end
for i = 1, n do
  read(i)
end
return (answer(1, false))
