--[[ Accept a job (POST /run, /runsync): its record, its place in the queue and its ttl entry, in one
  atomic step and one round trip.
  KEYS[1] record P:j:<id>            KEYS[2] ttl index P:ttl (zset, member "<ep>|<id>")
  KEYS[3] wait list P:q:<ep>         KEYS[4] low-priority wait list P:ql:<ep>
  ARGV[1] ttl member "<ep>|<id>"     ARGV[2] expires at (ms)     ARGV[3] lowPriority '1' | '0'
  ARGV[4] id                         ARGV[5] events channel      ARGV[6] wake message "new|<ep>|<replica>"
  ARGV[7..] record field, value, field, value, ...
  Returns 1. ]]
local recKey, ttlKey, waitKey, lowKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttlMember, expiresAt, low, id, channel, wake = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
redis.call('HSET', recKey, unpack(ARGV, 7))
redis.call('ZADD', ttlKey, expiresAt, ttlMember)
if low == '1' then redis.call('LPUSH', lowKey, id) else redis.call('LPUSH', waitKey, id) end
redis.call('PUBLISH', channel, wake)
return 1
