-- What a script checks before its first write, since Redis does not roll back a script
-- that fails half way: the type of every key it will write, and the integers it will move.
-- A key the script reads before writing anything is read with redis.pcall and the reply
-- given to wrong_reply(key, reply), which turns WRONGTYPE into CORRUPT_DATA (the read
-- proves the type at no extra cost; so does the first write itself, sent the same way).
-- Every other key it writes is checked by wrong_type(key, kind, ...), one TYPE each.
-- counter_ok(text) checks a value INCRBY and HINCRBY take.

local typed = {} -- key -> the type wrong_type found it may hold, so each key costs one TYPE

-- The index in KEYS of `key`: a script touches only keys it declares, so a key that is
-- not there is a bug of the script (a Lua error, before any write).
local function declared(key)
  for i = 1, #KEYS do
    if KEYS[i] == key then return i end
  end
  error('check_types: key "' .. tostring(key) .. '" is not in KEYS')
end

-- A CORRUPT_DATA reply for the first (key, type) pair whose key exists with another type
-- ("string", "hash", "zset", "stream", ...), else nil; a nil key (an optional KEYS entry
-- not given) is skipped. One TYPE per key and script, however often it is asked.
local function wrong_type(...)
  for i = 1, select('#', ...), 2 do
    local key, kind = select(i, ...)
    if key and typed[key] ~= kind then
      local found = redis.call('TYPE', KEYS[declared(key)])['ok']
      if found ~= kind and found ~= 'none' then
        return redis.error_reply('CORRUPT_DATA key "' .. key .. '" holds a ' .. found
          .. ', not a ' .. kind .. '; nothing was written')
      end
      typed[key] = kind
    end
  end
  return nil
end

-- For `reply`, what redis.pcall answered for a command on `key`: nil when it is no error,
-- a CORRUPT_DATA reply when the key holds another type or a value the command refuses
-- (WRONGTYPE, not an integer, overflow), else the server's error itself (OOM, ...).
local function wrong_reply(key, reply)
  if type(reply) ~= 'table' or not reply.err then return nil end
  local err = reply.err
  if string.find(err, 'WRONGTYPE', 1, true) or string.find(err, 'not an integer', 1, true)
      or string.find(err, 'overflow', 1, true) then
    return redis.error_reply('CORRUPT_DATA key "' .. key .. '": ' .. err
      .. '; nothing was written')
  end
  return reply
end

-- True for an absent value (nil or false) or an integer of at most 18 digits in the form
-- INCRBY and HINCRBY take ("0", or no leading zero): a change of up to 15 digits then
-- cannot overflow.
local function counter_ok(text)
  if not text then return true end
  local digits = string.match(text, '^%-?([1-9]%d*)$')
  return text == '0' or (digits ~= nil and #digits <= 18)
end
