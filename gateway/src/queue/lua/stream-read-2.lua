--[[ /stream: the chunks not delivered yet; advances the record's stream cursor 'sc'.
  KEYS[1] record   KEYS[2] stream list   ARGV[1] ep
  Returns { status, chunk, chunk, ... } or false when there is no such job on this endpoint. ]]
local rec, stream, ep = KEYS[1], KEYS[2], ARGV[1]
local f = redis.call('HMGET', rec, 'ep', 'st', 'sc')
if f[1] ~= ep or not f[2] then return false end
local cursor = tonumber(f[3] or '0')
local items = redis.call('LRANGE', stream, cursor, -1)
if #items > 0 then redis.call('HSET', rec, 'sc', cursor + #items) end
table.insert(items, 1, f[2])
return items
