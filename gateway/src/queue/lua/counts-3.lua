--[[ Queue figures of one endpoint for the scaler and /health, read at one instant.
  KEYS[1] wait list   KEYS[2] low-priority wait list   KEYS[3] running index   ARGV[1] record key prefix "P:j:"
  Returns { waiting, waiting lowPriority, running, created-at ms of the oldest waiting job or -1 }. ]]
local waitKey, lowKey, running, recPrefix = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local oldest = -1
local id = redis.call('LINDEX', waitKey, -1)
if id then oldest = tonumber(redis.call('HGET', recPrefix .. id, 'ca') or '-1') end
return { redis.call('LLEN', waitKey), redis.call('LLEN', lowKey), redis.call('ZCARD', running), oldest }
