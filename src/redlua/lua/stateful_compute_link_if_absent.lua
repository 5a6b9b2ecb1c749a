--[[
  Return a UID's hash-only link for a service, or link it to the least-loaded fresh pod
  (statefulComputeLinkIfAbsent, legacy: its two keys are in different cluster slots).

  KEYS[1]  hash T holding the link: field -> pod (the UID hash sf:{<ns>:lk:<uid>})
  KEYS[2]  service state hash S: pod -> "<load>-<epochMillis>"
  ARGV[1]  field of T (the service name)
  ARGV[2]  freshness threshold: pods whose epochMillis is below it are skipped

  Returns  {pod} already in T, or the pod just written to T; {"-1"} when T has no link
           and no pod qualifies (strings).
  Errors   INVALID_ARGUMENT when the threshold is not a number (checked first).
  Idempotent  yes (a second run finds the link the first one wrote)

  As the original, it writes only T (no link string, no TTL, no load counter), so a GET
  reader does not see the link. Unlike the original, a state value that is not exactly
  "<int>-<int>" is skipped instead of failing the script, and equal minimum loads are
  broken by the smallest pod id (numerically, then as text) instead of Lua table order.
]]
local t, s = KEYS[1], KEYS[2]
local field, threshold = ARGV[1], ARGV[2]

local min_time = threshold and tonumber(threshold)
if not min_time then
  return redis.error_reply('INVALID_ARGUMENT threshold must be a number, got '
    .. string.sub(tostring(threshold), 1, 40))
end

local linked = redis.call('HGET', t, field)
if linked then
  return {linked}
end

local function before(a, b) -- pod ids: numeric order, text order among equals
  local x, y = tonumber(a) or math.huge, tonumber(b) or math.huge
  if x ~= y then
    return x < y
  end
  return a < b
end

local best, best_load
local states = redis.call('HGETALL', s)
for i = 1, #states, 2 do
  local pod = states[i]
  local load, stamp = string.match(states[i + 1], '^(%d+)%-(%d+)$')
  if load and tonumber(stamp) >= min_time then
    load = tonumber(load)
    if best == nil or load < best_load or (load == best_load and before(pod, best)) then
      best, best_load = pod, load
    end
  end
end
if best == nil then
  return {'-1'}
end
redis.call('HSET', t, field, best)
return {best}
