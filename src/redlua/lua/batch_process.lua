--[[
  Run a list of simple commands, one per declared key, each with its own result.

  KEYS[1..n]  the key of each operation, in operation order (a key may repeat)
  ARGV[1..n]  the operations, each an opcode followed by its arguments:
           "set" value px (px: milliseconds > 0, or "0" for no expiry);
           "get"; "incrby" amount (an integer; decr is a negative amount);
           "del"; "pexpire" milliseconds; "hset" field value; "hget" field;
           "lpush" value; "rpush" value; "sadd" member; "zadd" score member

  Every operation is parsed and checked before the first runs; then each runs in
  order with redis.pcall, so an operation that fails (a key of the wrong type, a
  value that is not an integer) gives its error as its result and the others run.

  Returns  {ok, result, ok, result, ...}: per operation, 1 and the command's reply
           (a status as its text, a missing value as nil), or 0 and the error text.
  Errors   INVALID_ARGUMENT when an opcode is unknown, its arguments are malformed, or
           the operations do not match the keys one to one (nothing runs).
  Idempotent  no
]]
local arity = {
  set = 2, get = 0, incrby = 1, del = 0, pexpire = 1, hset = 2, hget = 1,
  lpush = 1, rpush = 1, sadd = 1, zadd = 2,
}

local function invalid(what, value)
  return redis.error_reply('INVALID_ARGUMENT ' .. what .. ', got "'
    .. string.sub(tostring(value), 1, 64) .. '"')
end

local ops, at = {}, 1
while at <= #ARGV do
  local code = ARGV[at]
  local width = arity[code]
  if not width then return invalid('unknown opcode at ARGV[' .. at .. ']', code) end
  if at + width > #ARGV then return invalid('missing arguments of ' .. code, at) end
  local a, b = ARGV[at + 1], ARGV[at + 2]
  if code == 'set' and not string.match(b, '^%d+$') then
    return invalid('set px must be an integer >= 0 (ms)', b)
  elseif code == 'incrby' and not string.match(a, '^-?%d+$') then
    return invalid('incrby amount must be an integer', a)
  elseif code == 'pexpire' and not string.match(a, '^[1-9]%d*$') then
    return invalid('pexpire must be an integer > 0 (ms)', a)
  elseif code == 'zadd' and not tonumber(a) then
    return invalid('zadd score must be a number', a)
  end
  ops[#ops + 1] = {code, a, b}
  at = at + 1 + width
end
if #ops ~= #KEYS then
  return invalid('operations must match the keys one to one', #ops .. ' for ' .. #KEYS)
end

local out = {}
for i, op in ipairs(ops) do
  local code, a, b = op[1], op[2], op[3]
  local reply
  if code == 'set' then
    if b == '0' then
      reply = redis.pcall('SET', KEYS[i], a)
    else
      reply = redis.pcall('SET', KEYS[i], a, 'PX', b)
    end
  elseif code == 'get' then
    reply = redis.pcall('GET', KEYS[i])
  elseif code == 'incrby' then
    reply = redis.pcall('INCRBY', KEYS[i], a)
  elseif code == 'del' then
    reply = redis.pcall('DEL', KEYS[i])
  elseif code == 'pexpire' then
    reply = redis.pcall('PEXPIRE', KEYS[i], a)
  elseif code == 'hset' then
    reply = redis.pcall('HSET', KEYS[i], a, b)
  elseif code == 'hget' then
    reply = redis.pcall('HGET', KEYS[i], a)
  elseif code == 'lpush' then
    reply = redis.pcall('LPUSH', KEYS[i], a)
  elseif code == 'rpush' then
    reply = redis.pcall('RPUSH', KEYS[i], a)
  elseif code == 'sadd' then
    reply = redis.pcall('SADD', KEYS[i], a)
  else
    reply = redis.pcall('ZADD', KEYS[i], a, b)
  end
  if type(reply) == 'table' and reply.err then
    out[2 * i - 1], out[2 * i] = 0, reply.err
  elseif type(reply) == 'table' and reply.ok then
    out[2 * i - 1], out[2 * i] = 1, reply.ok
  else
    out[2 * i - 1], out[2 * i] = 1, reply
  end
end
return out
