#!lua flags=no-writes
--[[
  Read who holds a read-write lock: the writer, how many readers, whether a writer waits.

  KEYS[1..5]  readers (ZSET), writer (STRING), intent (STRING), readers' and writers'
              wake lists (LIST) of one lock, in one slot (see lua/lib/rwlock_base.lua)

  The time is the server's (TIME); expired readers are not counted.

  Returns  {writer id or "", ms the writer has left (0: none), readers holding, waiting
           writer's id or ""}.
  Errors   CORRUPT_DATA when a key holds another type.
  Idempotent  yes
]]
--!include check_types
--!include rwlock_base

local bad = wrong_type(rw_readers, 'zset', rw_writer, 'string', rw_intent, 'string')
if bad then return bad end
local now = rw_now()
local writer = redis.call('GET', rw_writer)
local held = redis.call('ZCOUNT', rw_readers, string.format('(%d', now), '+inf')
return {writer or '', writer and math.max(redis.call('PTTL', rw_writer), 1) or 0, held,
  redis.call('GET', rw_intent) or ''}
