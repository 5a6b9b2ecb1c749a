-- Refuse, before any write, a link version key (local `vkey`, optional) that holds no
-- version number. Spliced into the stateful scripts that bump the version.

if vkey then
  local v = redis.call('GET', vkey)
  if v and not (v == '0' or (string.match(v, '^[1-9]%d*$') and #v <= 18)) then
    return redis.error_reply('CORRUPT_DATA ' .. vkey .. ' holds no version number')
  end
end
