-- Check ttl (ARGV) and the version key, then define write(): the Write(pod, ttl) of the
-- stateful-links contract. Uses the script's locals `link`, `hash`, `vkey`, `svc`, `pod`
-- and `ttl`; sets the local `persistent`. Shared by set_link, try_set_link and
-- set_link_if_absent.

--!include stateful_integer
local persistent = ttl ~= nil and tonumber(ttl) == -1
if not (persistent or integer(ttl)) then
  return redis.error_reply('INVALID_ARGUMENT ttl must be -1 or an integer of seconds, got '
    .. string.sub(tostring(ttl), 1, 40))
end
--!include stateful_check_version

-- Write(pod, ttl) of the contract; the hash goes first, so that a hash of the wrong
-- type fails before anything is written.
local function write()
  if persistent then
    redis.call('HSET', hash, svc, pod)
    redis.call('SET', link, pod)
  else
    redis.call('HDEL', hash, svc)
    redis.call('SET', link, pod)
    redis.call('EXPIRE', link, ttl)
  end
  if vkey then
    redis.call('INCR', vkey)
  end
end
