-- integer(s): true when s is an integer the server takes as a TTL (|s| below 10^15).
-- Shared by the stateful link scripts.

local function integer(s) -- an integer the server takes as a TTL, below 10^15 in magnitude
  local digits = s and string.match(s, '^%-?([1-9]%d*)$')
  return s == '0' or (digits ~= nil and #digits <= 15)
end
