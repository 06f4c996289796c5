--[[ Queue format 1 (Longshore 0.1: one BullMQ queue per endpoint next to the record) -> format 2 (the
  record's own lists). Moves the endpoint's waiting and running jobs out of BullMQ's keys, in order;
  records and their field names are unchanged. Idempotent: nothing to do once BullMQ's lists are gone.
  KEYS[1] BullMQ wait list P:bull:<ep>:wait   KEYS[2] BullMQ paused list   KEYS[3] BullMQ prioritized zset
  KEYS[4] BullMQ active list   KEYS[5] wait list P:q:<ep>   KEYS[6] low-priority wait list P:ql:<ep>
  KEYS[7] running index P:r:<ep>   KEYS[8] format-1 deadline index P:dl
  ARGV[1] key prefix P   ARGV[2] BullMQ job key prefix "P:bull:<ep>:"   ARGV[3] ep   ARGV[4] now (ms)
  ARGV[5] lease (ms)
  Returns { jobs moved to the queue, jobs moved to the running index }. ]]
--- @include "lease"
local bullWait, bullPaused, bullPrioritized, bullActive = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local waitKey, lowKey, running, oldDeadlines = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local prefix, bullJob, ep, now, leaseMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', bullWait, bullPaused, bullPrioritized, bullActive) == 0 then return { 0, 0 } end
local queued, held = 0, 0
local function forget(id) redis.call('DEL', bullJob .. id, bullJob .. id .. ':lock') end
local function enqueue(id, list)
  local rec = prefix .. ':j:' .. id
  if redis.call('HGET', rec, 'st') == 'IN_QUEUE' then
    -- format 1 bounded a queued record by a key expiry as well; format 2 by the ttl index only
    redis.call('PERSIST', rec)
    redis.call('RPUSH', list, id)
    queued = queued + 1
  end
  forget(id)
end
-- running first: they were taken before anything still waiting
for _, id in ipairs(redis.call('LRANGE', bullActive, 0, -1)) do
  local rec = prefix .. ':j:' .. id
  local f = redis.call('HMGET', rec, 'st', 'sa', 'xt', 'tk')
  if f[1] == 'IN_PROGRESS' then
    redis.call('PERSIST', rec)
    if redis.call('EXISTS', prefix .. ':s:' .. id) == 1 then redis.call('HSET', rec, 'sn', 1) end
    redis.call('ZADD', running, leaseScore(now, leaseMs, f[2] or now, f[3] or 0), id)
    if f[4] then redis.call('ZREM', oldDeadlines, ep .. '|' .. id .. '|' .. f[4]) end
    held = held + 1
    forget(id)
  else
    enqueue(id, waitKey)
  end
end
-- BullMQ's lists hold the newest job on the left; RPUSH left to right leaves the oldest at the right end,
-- the end the take script pops first, and ahead of anything format 2 queued meanwhile
for _, list in ipairs({ bullWait, bullPaused }) do
  for _, id in ipairs(redis.call('LRANGE', list, 0, -1)) do enqueue(id, waitKey) end
end
local prio = redis.call('ZRANGE', bullPrioritized, 0, -1)
for i = #prio, 1, -1 do enqueue(prio[i], lowKey) end
redis.call('DEL', bullWait, bullPaused, bullPrioritized, bullActive)
return { queued, held }
