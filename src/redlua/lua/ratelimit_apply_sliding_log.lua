--[[
  Apply one request to one sliding-log limit (exact: one entry per unit): what
  ratelimit_apply does for a lone sliding_log limit, with fewer arguments and a flat
  reply. Both scripts run the same code on the same state, so either reads what the
  other wrote.

  KEYS[1]  the limit's state key: LIST of entries "<ms>", one per unit, newest first
  ARGV[1]  mode: "hit", "peek" or "refund"
  ARGV[2]  now in milliseconds (an integer >= 0, at most 15 digits), or "" for the
           server's clock (TIME)
  ARGV[3]  cost: units to consume or give back, an integer from 1 to 10^9; a hit or a
           peek may not ask for more than the limit
  ARGV[4]  limit: units per period, an integer from 1 to 10^6
  ARGV[5]  period in milliseconds, an integer from 1 to 10^12

  Returns  {allowed (1/0), remaining units, retry after (ms), reset after (ms)}, the
           limit's part of ratelimit_apply's reply, all integers.
  Errors   INVALID_ARGUMENT when an argument is malformed or the cost exceeds
           the limit; CORRUPT_DATA when the key holds what this script does not write
           (nothing is written in either case).
  Idempotent  no
]]
--!include ratelimit_base
--!include ratelimit_sliding_log
--!include ratelimit_single
return ratelimit_single('sliding_log', sliding_log_read, sliding_log_decide,
  sliding_log_write)
