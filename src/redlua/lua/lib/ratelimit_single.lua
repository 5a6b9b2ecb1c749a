-- One request against one limit, for the scripts ratelimit_apply_<algorithm> (uses
-- ratelimit_base and the algorithm's library, included before it): ARGV[1..3] as in
-- ratelimit_apply, then the limit's numbers, ARGV[4] limit, ARGV[5] period (ms) and,
-- for token_bucket and gcra, ARGV[6] burst.

-- Apply the request with the algorithm's read, decide and write; return the reply
-- {allowed, remaining, retry ms, reset ms} (a refund answers as a one-unit peek after
-- it), or an error reply before anything is written.
local function ratelimit_single(algorithm, read, decide, write)
  local now, cost = ratelimit_request()
  if not now then
    return cost
  end
  local mode = ARGV[1]
  local limit, period, burst =
    ratelimit_limit(algorithm, ARGV[4], ARGV[5], ARGV[6], mode, cost)
  if not limit then
    return period
  end
  local s1, s2, s3 = read(1, now, limit, period, burst)
  if s1 == false then
    return ratelimit_corrupt(1, algorithm)
  end
  local take = mode == 'hit'
  if mode == 'refund' then
    write(1, s1, s2, s3, cost, cost, now, limit, period, burst)
    s1, s2, s3 = read(1, now, limit, period, burst)
    cost = 1
  end
  local ok, remaining, retry, reset, t1, t2, t3 =
    decide(1, s1, s2, s3, cost, take, now, limit, period, burst)
  if ok and take then
    write(1, t1, t2, t3, cost, nil, now, limit, period, burst)
  end
  return {ok and 1 or 0, math.max(remaining, 0), math.max(retry, 0), math.max(reset, 0)}
end
