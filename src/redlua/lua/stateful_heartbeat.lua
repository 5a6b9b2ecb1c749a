--[[
  Record one pod's heartbeat: its compat state value, its metadata, a fresh reservation count.

  KEYS[1]  state hash of the service, pod -> "<load>-<epochMillis>" (read by Java and Go)
  KEYS[2]  metadata hash in the same slot (<state key>meta), pod -> JSON object
  KEYS[3]  reservation hash in the same slot (<state key>links), pod -> links handed out
  ARGV[1]  pod: a StatefulSet ordinal in canonical decimal ("0", "3", never "03")
  ARGV[2]  load: an integer >= 0 in canonical decimal
  ARGV[3]  routing state: READY, DENY_NEW or SHUTDOWN
  ARGV[4]  capacity: an integer >= 0 in canonical decimal, or "" for none
  ARGV[5]  address: text without control characters (at most 512 bytes), or "" for none
  ARGV[6]  incarnation: the writing process's id, 1 to 64 letters, digits, "_" or "-"
  ARGV[7]  lease in milliseconds: an integer > 0; this incarnation holds the pod until
           now + lease

  The time is the server's (TIME), one clock for every pod. The metadata JSON is
  {"routing": ..., "incarnation": ..., "at": epochMillis, "lease_until": epochMillis,
  "load": int, "capacity": int (absent if none), "address": text (absent if none)};
  "at" equals the state value's epochMillis, so a reader can tell whether another
  writer (Java, Go, host code) replaced the state value since. The pod's reservation
  count is deleted: the new load figure includes those links.

  Returns  the server time in milliseconds (integer), the epochMillis written.
  Errors   INVALID_ARGUMENT when an argument is malformed; CORRUPT_DATA when one of the
           keys is not a hash; STALE_INCARNATION when another incarnation of the pod
           holds a lease that has not run out and it has not shut down. Nothing is
           written on an error.
  Idempotent  yes
]]
local pod, load, routing, capacity = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local address, incarnation, lease = ARGV[5], ARGV[6], ARGV[7]

--!include check_types

local function count(text)
  return #text <= 15 and (text == '0' or string.match(text, '^[1-9]%d*$') ~= nil)
end

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "' .. value .. '"')
end

if not count(pod) then return invalid('pod must be an integer >= 0', pod) end
if not count(load) then return invalid('load must be an integer >= 0', load) end
if routing ~= 'READY' and routing ~= 'DENY_NEW' and routing ~= 'SHUTDOWN' then
  return invalid('routing must be READY, DENY_NEW or SHUTDOWN', routing)
end
if capacity ~= '' and not count(capacity) then
  return invalid('capacity must be an integer >= 0 or empty', capacity)
end
if #address > 512 or string.find(address, '%c') then
  return redis.error_reply('INVALID_ARGUMENT address must be at most 512 bytes of text')
end
if #incarnation > 64 or not string.match(incarnation, '^[%w_-]+$') then
  return invalid('incarnation must be 1 to 64 letters, digits, _ or -', incarnation)
end
if not count(lease) or lease == '0' then return invalid('lease must be an integer > 0', lease) end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local stored = redis.pcall('HGET', KEYS[2], pod)
local bad = wrong_reply(KEYS[2], stored) or wrong_type(KEYS[3], 'hash')
if bad then return bad end
if stored then
  local ok, old = pcall(cjson.decode, stored)
  if ok and type(old) == 'table' and old.incarnation ~= incarnation
      and old.routing ~= 'SHUTDOWN' and type(old.lease_until) == 'number'
      and now < old.lease_until then
    return redis.error_reply(string.format(
      'STALE_INCARNATION pod %s is held by incarnation %s for %d ms more',
      pod, tostring(old.incarnation), old.lease_until - now))
  end
end

local at = string.format('%d', now)
local meta = '{"routing":"' .. routing .. '","incarnation":"' .. incarnation
  .. '","at":' .. at .. ',"lease_until":' .. string.format('%d', now + tonumber(lease))
  .. ',"load":' .. load
if capacity ~= '' then meta = meta .. ',"capacity":' .. capacity end
if address ~= '' then meta = meta .. ',"address":' .. cjson.encode(address) end
meta = meta .. '}'

local wrote = redis.pcall('HSET', KEYS[1], pod, load .. '-' .. at) -- the first write
bad = wrong_reply(KEYS[1], wrote)
if bad then return bad end
redis.call('HSET', KEYS[2], pod, meta)
redis.call('HDEL', KEYS[3], pod)
return now
