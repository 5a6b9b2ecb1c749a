-- Check keepSeconds and mode (ARGV) and the version key, then define remove(): the link
-- removal of the stateful-links contract (grace: expire within keepSeconds; exact: DEL).
-- Uses the script's locals `link`, `hash`, `vkey`, `svc`, `keep` and `mode`. Shared by
-- remove_link and remove_link_with_id.

--!include stateful_integer
if not integer(keep) then
  return redis.error_reply('INVALID_ARGUMENT keepSeconds must be an integer, got '
    .. string.sub(tostring(keep), 1, 40))
end
if mode ~= 'grace' and mode ~= 'exact' then
  return redis.error_reply('INVALID_ARGUMENT mode must be "grace" or "exact", got '
    .. string.sub(tostring(mode), 1, 40))
end
--!include stateful_check_version

-- Remove the link; HDEL goes first, so that a hash of the wrong type fails before any
-- write. Returns 1 when the link existed, and whether anything was written.
local function remove()
  local changed = redis.call('HDEL', hash, svc) == 1
  if mode == 'exact' then
    local n = redis.call('DEL', link)
    return n, changed or n == 1
  end
  local left = redis.call('PTTL', link)
  if left == -2 then
    return 0, changed
  end
  local seconds = tonumber(keep)
  if seconds <= 0 then
    redis.call('DEL', link)
    changed = true
  elseif left == -1 or left > seconds * 1000 then
    redis.call('EXPIRE', link, keep)
    changed = true
  end
  return 1, changed
end
