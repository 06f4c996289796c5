--[[ job-done with a final result (COMPLETED / FAILED). Accepted from the worker that holds the job, and
  from a worker that held it before (former workers 'pw') while the job is not finished: a worker whose
  lease lapsed (it stopped pinging while draining on SIGTERM) still delivers a valid result; the first
  result wins and a worker now running the re-queued job is told to stop.
  KEYS[1] record   KEYS[2] stream list   KEYS[3] counters P:cnt:<ep>   KEYS[4] running index P:r:<ep>
  KEYS[5] wait list   KEYS[6] low-priority wait list   KEYS[7] ttl index
  KEYS[8] latency samples P:lat:<ep> (the newest 500 "<delay ms>:<execution ms>", for `longshore status`)
  ARGV[1] worker   ARGV[2] status   ARGV[3] field 'out' | 'err'   ARGV[4] value JSON   ARGV[5] now (ms)
  ARGV[6] retention of /run jobs (ms)   ARGV[7] retention of /runsync jobs (ms)   ARGV[8] key prefix P
  ARGV[9] ep   ARGV[10] id
  Returns 'nf' (no such job on this endpoint), false (refused), or { webhook, previous status, ca, sa, rt }
  ('' when absent; the last three answer a waiter on this replica without reading the record again). ]]
--- @include "terminal"
local rec, stream, counters, running, waitKey, lowKey, ttlKey, latKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local worker, status, field, value, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local keepRunMs, keepSyncMs, prefix, ep, id = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local f = redis.call('HMGET', rec, 'st', 'w', 'sy', 'wh', 'pw', 'ep', 'ca', 'sa', 'rt', 'pg', 'sn', 'lp')
local st, holder = f[1], f[2]
if f[6] ~= ep then return 'nf' end
local isHolder = (st == 'IN_PROGRESS' and holder == worker)
local former = (st == 'IN_QUEUE' or st == 'IN_PROGRESS') and f[5] and string.find(f[5], '|' .. worker .. '|', 1, true)
if (not isHolder) and (not former) then return false end
redis.call('HSET', rec, 'st', status, field, value, 'fa', now, 'w', worker)
if f[10] then redis.call('HDEL', rec, 'pg') end
if st == 'IN_QUEUE' then
  -- re-queued after a lapsed lease, and now finished by its former worker: out of the queue
  if f[12] == '1' then redis.call('LREM', lowKey, -1, id) else redis.call('LREM', waitKey, -1, id) end
end
if st == 'IN_PROGRESS' and f[7] and f[8] then
  redis.call('LPUSH', latKey, (tonumber(f[8]) - tonumber(f[7])) .. ':' .. (tonumber(now) - tonumber(f[8])))
  redis.call('LTRIM', latKey, 0, 499)
end
local stopWorker = false
if (not isHolder) and st == 'IN_PROGRESS' and holder then stopWorker = holder end
terminal({ rec = rec, stream = stream, counters = counters, running = running, ttl = ttlKey, prefix = prefix, ep = ep, id = id,
  status = status, sync = f[3], streamed = f[11], keepRunMs = keepRunMs, keepSyncMs = keepSyncMs, stopWorker = stopWorker })
return { f[4] or '', st, f[7] or '', f[8] or '', f[9] or '' }
