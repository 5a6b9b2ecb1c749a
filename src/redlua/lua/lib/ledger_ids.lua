-- The ledger's id counter, the script's local `seq` (a STRING that INCR moves, shared by
-- transfers and holds): next_id() takes the next id. Scripts call it as their first
-- write, so a counter holding anything INCR refuses stops them with nothing written.

--!include check_types

-- The next id, or nil and a CORRUPT_DATA reply when the counter is no integer (nothing
-- is written then).
local function next_id()
  local id = redis.pcall('INCR', seq)
  local bad = wrong_reply(seq, id)
  if bad then return nil, bad end
  return id
end
