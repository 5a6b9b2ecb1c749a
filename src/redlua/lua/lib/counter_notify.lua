-- Threshold notifications of the counter scripts. ARGV holds, from index `first`, groups
-- of six: kind ("publish" or "stream"), channel or stream MAXLEN, level, "up" or "down",
-- and the range [lo, hi) of values before the change that cross the level (empty: open).
-- Uses the script's locals `key` (the counter) and `stream` (KEYS[2], optional) and the
-- functions of counter_int64.

--!include counter_int64
--!include check_types

-- An INVALID_ARGUMENT reply for the first malformed group, a CORRUPT_DATA reply when a
-- stream notification's key exists and is no stream, or nil: call before any write.
local function check_notifications(first)
  local streamed = false
  for i = first, #ARGV, 6 do
    local kind, target, level, way, lo, hi = unpack(ARGV, i, i + 5)
    if not (kind == 'publish' or kind == 'stream') then
      return invalid('notification kind must be publish or stream', kind)
    end
    if kind == 'publish' and (target == nil or target == '') then
      return invalid('a publish notification needs a channel', target)
    end
    if kind == 'stream' and not (stream and target and #target <= 9
        and string.match(target, '^[1-9]%d*$')) then
      return invalid('a stream notification needs KEYS[2] and a MAXLEN of 1 to 9 digits', target)
    end
    if not (level and integer(level) and (way == 'up' or way == 'down')
        and lo and (lo == '' or integer(lo)) and hi and (hi == '' or integer(hi))) then
      return invalid('a notification needs a level, up or down, lo and hi', level)
    end
    streamed = streamed or kind == 'stream'
  end
  return streamed and wrong_type(stream, 'stream') or nil
end

-- Announce every level the change from `before` to `after` (texts) crossed, once each,
-- and append the levels to `reply`.
local function announce(before, after, first, reply)
  for i = first, #ARGV, 6 do
    local kind, target, level, way, lo, hi = unpack(ARGV, i, i + 5)
    if (lo == '' or not less(before, lo)) and (hi == '' or less(before, hi)) then
      if kind == 'publish' then
        redis.call('PUBLISH', target, '{"key":' .. cjson.encode(key) .. ',"level":"' .. level
          .. '","direction":"' .. way .. '","before":"' .. before .. '","after":"' .. after
          .. '"}')
      else
        redis.call('XADD', stream, 'MAXLEN', '~', target, '*', 'key', key, 'level', level,
          'direction', way, 'before', before, 'after', after)
      end
      reply[#reply + 1] = level
    end
  end
end
