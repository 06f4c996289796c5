--[[ /retry: FAILED or TIMED_OUT -> IN_QUEUE, at the back of the queue again with a fresh ttl.
  KEYS[1] record   KEYS[2] stream list   KEYS[3] counters   KEYS[4] ttl index   KEYS[5] wait list
  KEYS[6] low-priority wait list
  ARGV[1] now (ms)   ARGV[2] ep   ARGV[3] id   ARGV[4] events channel   ARGV[5] wake message
  Returns 1, the current status when it is not retryable, or false when there is no such job on this endpoint. ]]
local rec, stream, counters, ttlKey, waitKey, lowKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, ep, id, channel, wake = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local f = redis.call('HMGET', rec, 'ep', 'st', 'ttl', 'lp')
if f[1] ~= ep or not f[2] then return false end
if f[2] ~= 'FAILED' and f[2] ~= 'TIMED_OUT' then return f[2] end
redis.call('HDEL', rec, 'out', 'err', 'w', 'tk', 'sa', 'fa', 'pg', 'sc', 'sn')
redis.call('HSET', rec, 'st', 'IN_QUEUE', 'ca', now)
redis.call('HINCRBY', rec, 'rt', 1)
redis.call('HINCRBY', counters, 'retried', 1)
-- queued jobs are bounded by the ttl index, not by a key expiry
redis.call('PERSIST', rec)
redis.call('DEL', stream)
redis.call('ZADD', ttlKey, tonumber(now) + tonumber(f[3]), ep .. '|' .. id)
if f[4] == '1' then redis.call('LPUSH', lowKey, id) else redis.call('LPUSH', waitKey, id) end
redis.call('PUBLISH', channel, wake)
return 1
