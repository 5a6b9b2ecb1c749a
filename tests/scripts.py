"""Small scripts the engine tests run (user scripts, registered at run time)."""

from __future__ import annotations

from redlua import Script

INCR = Script.from_source(
    "test_incr",
    """--[[
  Add ARGV[1] to a counter and return the new value.

  KEYS[1]  counter
  ARGV[1]  amount

  Returns  the new value.
]]
return redis.call('INCRBY', KEYS[1], ARGV[1])
""",
)

APPEND = Script.from_source(
    "test_append",
    """--[[
  Append ARGV[1] to a list and return its length.

  KEYS[1]  list
  ARGV[1]  item

  Returns  the list's length.
]]
return redis.call('RPUSH', KEYS[1], ARGV[1])
""",
)

GET = Script.from_source(
    "test_get",
    """#!lua flags=no-writes
--[[
  Read a key.

  KEYS[1]  key

  Returns  its value or nil.
  Idempotent  yes
]]
return redis.call('GET', KEYS[1])
""",
)

REFUSE = Script.from_source(
    "test_refuse",
    """--[[
  Refuse with INVALID_ARGUMENT unless ARGV[1] is an integer, else set KEYS[1].

  KEYS[1]  key
  ARGV[1]  value

  Returns  "OK".
  Errors   INVALID_ARGUMENT when the value is not an integer.
]]
if not string.match(ARGV[1], '^-?%d+$') then
  return redis.error_reply('INVALID_ARGUMENT value must be an integer, got ' .. ARGV[1])
end
return redis.call('SET', KEYS[1], ARGV[1])
""",
)

BROKEN = Script.from_source(
    "test_broken",
    """--[[
  Fail at line 8 with a Lua runtime error.

  Returns  nothing: it always fails.
]]
local missing = nil
local n = 1
return n + missing
""",
)

SLOW_INCR = Script.from_source(
    "test_slow_incr",
    """--[[
  Increment a counter, then spin for ARGV[1] loop iterations.

  KEYS[1]  counter
  ARGV[1]  iterations

  Returns  the counter's value.
]]
local v = redis.call('INCR', KEYS[1])
for _ = 1, tonumber(ARGV[1]) do end
return v
""",
)

SPIN = Script.from_source(
    "test_spin",
    """#!lua flags=no-writes
--[[
  Spin for ARGV[1] iterations without writing (killable).

  ARGV[1]  iterations

  Returns  1.
]]
for _ = 1, tonumber(ARGV[1]) do end
return 1
""",
)
