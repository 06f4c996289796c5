--[[ Hand queued jobs to waiting workers: for each slot, the oldest job of the wait list (then of the
  low-priority list) becomes IN_PROGRESS on that slot's worker under a new lease. Ids whose record is
  gone (ttl, purge) or no longer IN_QUEUE (cancelled) are dropped on the way.
  A worker's batch (its consecutive slots) is bounded by payload bytes as well as by count: once a job
  would take it over ARGV[5] bytes, that job is not claimed — it stays at the head of the queue for the
  next worker or round — and the worker's remaining slots are skipped. Its first job is always handed
  out, however large. (54 jobs of 10 MB in one answer exceeded V8's string limit after they were claimed,
  and every retry claimed them again.) The size is that of the payload HMGET reads anyway: no extra command.
  The job keeps its ttl entry while it runs (RunPod: the ttl counts from submission and is a hard limit).
  KEYS[1] wait list P:q:<ep>   KEYS[2] low-priority wait list P:ql:<ep>
  KEYS[3] running index P:r:<ep> (zset id -> lease/deadline)
  ARGV[1] record key prefix "P:j:"   ARGV[2] ep   ARGV[3] now (ms)   ARGV[4] lease (ms)
  ARGV[5] payload bytes one worker gets at most (after its first job)
  ARGV[6], ARGV[7], ...: worker, token of slot 1; worker, token of slot 2; ...
  Returns { drained (1 = the lists ran empty), slot, id, payload JSON, slot, id, payload, ... }. ]]
--- @include "lease"
local waitKey, lowKey, runningKey = KEYS[1], KEYS[2], KEYS[3]
local recPrefix, ep, now, leaseMs, maxBytes = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local out = { 0 }
local slots = (#ARGV - 5) / 2
-- ids popped but not handed out yet: one RPOP with a count per round instead of one per slot
local popped, nextId, poppedFrom = {}, 1, waitKey
local lowDrained = false
local function pop(want)
  if nextId > #popped then
    popped, nextId, poppedFrom = redis.call('RPOP', waitKey, want), 1, waitKey
    if not popped and not lowDrained then
      popped, poppedFrom = redis.call('RPOP', lowKey, want), lowKey
      lowDrained = not popped
    end
    if not popped then popped = {} return nil end
  end
  nextId = nextId + 1
  return popped[nextId - 1]
end
local runWorker, runBytes, runFull = nil, 0, false
for slot = 1, slots do
  local worker, token = ARGV[4 + slot * 2], ARGV[5 + slot * 2]
  if worker ~= runWorker then runWorker, runBytes, runFull = worker, 0, false end
  while not runFull do
    local id = pop(slots - slot + 1)
    if not id then
      out[1] = 1
      return out
    end
    local rec = recPrefix .. id
    -- status, payload, execution timeout, former workers, progress
    local f = redis.call('HMGET', rec, 'st', 'in', 'xt', 'pw', 'pg')
    if f[1] == 'IN_QUEUE' then
      local size = #f[2]
      if runBytes > 0 and runBytes + size > maxBytes then
        -- over this worker's bound: unclaimed, first in line for the next slot (next worker)
        nextId = nextId - 1
        runFull = true
        break
      end
      runBytes = runBytes + size
      local pw = f[4] or '|'
      if not string.find(pw, '|' .. worker .. '|', 1, true) then pw = pw .. worker .. '|' end
      redis.call('HSET', rec, 'st', 'IN_PROGRESS', 'w', worker, 'tk', token, 'sa', now, 'pw', pw)
      if f[5] then redis.call('HDEL', rec, 'pg') end
      redis.call('ZADD', runningKey, leaseScore(now, leaseMs, now, f[3]), id)
      out[#out + 1] = slot
      out[#out + 1] = id
      out[#out + 1] = f[2]
      break
    end
  end
end
-- popped but not handed out (skipped slots): back at the right end, oldest rightmost, taken first next time
if nextId <= #popped then
  local back = {}
  for i = #popped, nextId, -1 do back[#back + 1] = popped[i] end
  redis.call('RPUSH', poppedFrom, unpack(back))
end
return out
