--[[ The terminal transition every way of ending a job shares (job-done, cancel, execution timeout,
  the stall limit, purge): the job leaves the running index and the ttl index (a running job keeps its
  ttl entry: RunPod's ttl is a hard limit from submission, see expire-1.lua), the record (and its stream, when it has one) is
  kept for the retention, the endpoint's counter goes up, waiters on every replica are woken, and a
  worker that still runs the job (not the one that finished it) is told to stop.
  t: { rec, stream, counters, running, ttl (the ttl index key), prefix, ep, id, status, sync ('1' = /runsync job), streamed (bool),
       keepRunMs, keepSyncMs, stopWorker (worker id or false) } ]]
local function terminal(t)
  redis.call('ZREM', t.running, t.id)
  redis.call('ZREM', t.ttl, t.ep .. '|' .. t.id)
  local keep = t.keepRunMs
  if t.sync == '1' then keep = t.keepSyncMs end
  redis.call('PEXPIRE', t.rec, keep)
  if t.streamed then redis.call('PEXPIRE', t.stream, keep) end
  redis.call('HINCRBY', t.counters, string.lower(t.status), 1)
  redis.call('PUBLISH', t.prefix .. ':ev', 'd|' .. t.id)
  if t.stopWorker then
    local stopKey = t.prefix .. ':stop:' .. t.ep .. ':' .. t.stopWorker
    redis.call('SADD', stopKey, t.id)
    redis.call('PEXPIRE', stopKey, 600000)
    redis.call('PUBLISH', t.prefix .. ':ev', 'x|' .. t.ep .. '|' .. t.stopWorker)
  end
end
