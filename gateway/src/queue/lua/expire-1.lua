--[[ Jobs whose ttl elapsed while they were still queued are dropped (their /status is 404 from now on).
  KEYS[1] ttl index P:ttl (zset "<ep>|<id>" -> expires at)
  ARGV[1] key prefix P   ARGV[2] now (ms)   ARGV[3] at most this many
  Returns { ep, id, ep, id, ... } of the jobs dropped. ]]
local ttlKey = KEYS[1]
local prefix, now, limit = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', ttlKey, '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', ttlKey, m)
  local sep = string.find(m, '|', 1, true)
  local ep, id = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
  local rec = prefix .. ':j:' .. id
  local f = redis.call('HMGET', rec, 'st', 'lp')
  if (not f[1]) or f[1] == 'IN_QUEUE' then
    if f[2] == '1' then redis.call('LREM', prefix .. ':ql:' .. ep, -1, id) else redis.call('LREM', prefix .. ':q:' .. ep, -1, id) end
    redis.call('DEL', rec, prefix .. ':s:' .. id)
    out[#out + 1] = ep; out[#out + 1] = id
  end
end
return out
