--[[ Hand queued jobs to waiting workers: for each slot, the oldest job of the wait list (then of the
  low-priority list) becomes IN_PROGRESS on that slot's worker under a new lease. Ids whose record is
  gone (ttl, purge) or no longer IN_QUEUE (cancelled) are dropped on the way.
  KEYS[1] wait list P:q:<ep>   KEYS[2] low-priority wait list P:ql:<ep>
  KEYS[3] running index P:r:<ep> (zset id -> lease/deadline)
  The job keeps its ttl entry while it runs (RunPod: the ttl counts from submission and is a hard limit).
  ARGV[1] record key prefix "P:j:"   ARGV[2] ep   ARGV[3] now (ms)   ARGV[4] lease (ms)
  ARGV[5], ARGV[6], ...: worker, token of slot 1; worker, token of slot 2; ...
  Returns { slot, id, payload JSON, slot, id, payload, ... } (fewer slots than asked = the lists are empty). ]]
--- @include "lease"
local waitKey, lowKey, runningKey = KEYS[1], KEYS[2], KEYS[3]
local recPrefix, ep, now, leaseMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out = {}
local slots = (#ARGV - 4) / 2
-- ids popped but not handed out yet: one RPOP with a count per round instead of one per slot
local popped, nextId = {}, 1
local lowDrained = false
local function pop()
  if nextId > #popped then
    local want = slots - #out / 3
    popped, nextId = redis.call('RPOP', waitKey, want), 1
    if not popped and not lowDrained then
      popped = redis.call('RPOP', lowKey, want)
      lowDrained = not popped
    end
    if not popped then popped = {} return nil end
  end
  nextId = nextId + 1
  return popped[nextId - 1]
end
for slot = 1, slots do
  local worker, token = ARGV[3 + slot * 2], ARGV[4 + slot * 2]
  while true do
    local id = pop()
    if not id then return out end
    local rec = recPrefix .. id
    -- status, payload, execution timeout, former workers, progress
    local f = redis.call('HMGET', rec, 'st', 'in', 'xt', 'pw', 'pg')
    if f[1] == 'IN_QUEUE' then
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
return out
