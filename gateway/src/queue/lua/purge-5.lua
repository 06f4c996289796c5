--[[ /purge-queue: up to ARGV[6] waiting jobs leave the queue as CANCELLED (running jobs are untouched).
  Also the crash-loop give-up (queue/index.ts failWaiting): status FAILED with an error.
  KEYS[1] wait list   KEYS[2] low-priority wait list   KEYS[3] counters   KEYS[4] running index   KEYS[5] ttl index
  ARGV[1] key prefix P   ARGV[2] ep   ARGV[3] now (ms)   ARGV[4] retention /run   ARGV[5] retention /runsync
  ARGV[6] at most this many ids   ARGV[7] status (default CANCELLED)   ARGV[8] error JSON (optional)
  Returns { ids taken off the lists, jobs cancelled, id, its webhook URL, id, webhook, ... } (the URLs are
  returned here so that purging thousands of jobs costs no read per job afterwards). ]]
--- @include "terminal"
local waitKey, lowKey, counters, running, ttlKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local prefix, ep, now, keepRunMs, keepSyncMs, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local status, errJson = ARGV[7] or 'CANCELLED', ARGV[8]
local popped, removed, hooks = 0, 0, {}
while popped < limit do
  local id = redis.call('RPOP', waitKey)
  if not id then id = redis.call('RPOP', lowKey) end
  if not id then break end
  popped = popped + 1
  local rec = prefix .. ':j:' .. id
  local f = redis.call('HMGET', rec, 'st', 'sy', 'wh', 'pg', 'sn')
  if f[1] == 'IN_QUEUE' then
    redis.call('HSET', rec, 'st', status, 'fa', now)
    if errJson then redis.call('HSET', rec, 'err', errJson) end
    if f[4] then redis.call('HDEL', rec, 'pg') end
    terminal({ rec = rec, stream = prefix .. ':s:' .. id, counters = counters, running = running, ttl = ttlKey, prefix = prefix,
      ep = ep, id = id, status = status, sync = f[2], streamed = f[5], keepRunMs = keepRunMs,
      keepSyncMs = keepSyncMs, stopWorker = false })
    removed = removed + 1
    if f[3] then hooks[#hooks + 1] = id; hooks[#hooks + 1] = f[3] end
  end
end
local out = { popped, removed }
for _, v in ipairs(hooks) do out[#out + 1] = v end
return out
