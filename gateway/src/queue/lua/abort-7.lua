--[[ A terminal state set by the gateway: cancel (CANCELLED), execution timeout (TIMED_OUT), the stall
  limit (FAILED). A queued job leaves the queue; a running one's worker gets a stop signal.
  KEYS[1] record   KEYS[2] stream list   KEYS[3] counters   KEYS[4] running index   KEYS[5] wait list
  KEYS[6] low-priority wait list   KEYS[7] ttl index
  ARGV[1] new status   ARGV[2] now (ms)   ARGV[3] retention /run (ms)   ARGV[4] retention /runsync (ms)
  ARGV[5] key prefix P   ARGV[6] ep   ARGV[7] id   ARGV[8] error JSON ('' = none)
  Returns { previous status, worker, webhook } or false when already terminal (or missing). ]]
--- @include "terminal"
local rec, stream, counters, running, waitKey, lowKey, ttlKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local status, now, keepRunMs, keepSyncMs, prefix, ep, id, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local f = redis.call('HMGET', rec, 'st', 'w', 'sy', 'wh', 'pg', 'sn', 'lp')
local st, holder = f[1], f[2]
if st ~= 'IN_QUEUE' and st ~= 'IN_PROGRESS' then return false end
redis.call('HSET', rec, 'st', status, 'fa', now)
if err ~= '' then redis.call('HSET', rec, 'err', err) end
if f[5] then redis.call('HDEL', rec, 'pg') end
if st == 'IN_QUEUE' then
  if f[7] == '1' then redis.call('LREM', lowKey, -1, id) else redis.call('LREM', waitKey, -1, id) end
end
local stopWorker = false
if st == 'IN_PROGRESS' and holder then stopWorker = holder end
terminal({ rec = rec, stream = stream, counters = counters, running = running, ttl = ttlKey, prefix = prefix, ep = ep, id = id,
  status = status, sync = f[3], streamed = f[6], keepRunMs = keepRunMs, keepSyncMs = keepSyncMs, stopWorker = stopWorker })
return { st, holder or '', f[4] or '' }
