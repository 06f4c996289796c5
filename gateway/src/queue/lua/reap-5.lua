--[[ Running jobs whose time has come (score <= now in the running index): execution deadline passed ->
  TIMED_OUT (the worker is told to stop); otherwise the lease lapsed (the worker stopped pinging) ->
  back to the head of the queue, or FAILED once it lost its worker more than maxStalls times.
  KEYS[1] running index P:r:<ep>   KEYS[2] wait list   KEYS[3] low-priority wait list   KEYS[4] counters
  KEYS[5] ttl index (a re-queued job keeps its entry; a terminal one loses it)
  ARGV[1] key prefix P   ARGV[2] ep   ARGV[3] now (ms)   ARGV[4] retention /run   ARGV[5] retention /runsync
  ARGV[6] maxStalls (a job is FAILED at its loss number maxStalls + 1: the endpoint's maxWorkerLosses - 1)   ARGV[7] at most this many jobs   ARGV[8] timeout error JSON
  Returns { kind, id, webhook, stalls, worker, ... } with kind 'timeout' | 'failed' | 'requeued'. ]]
--- @include "terminal"
local running, waitKey, lowKey, counters, ttlKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local prefix, ep, now, keepRunMs, keepSyncMs = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local maxStalls, limit, timeoutErr = tonumber(ARGV[6]), ARGV[7], ARGV[8]
local out = {}
local due = redis.call('ZRANGEBYSCORE', running, '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(due) do
  local rec = prefix .. ':j:' .. id
  local f = redis.call('HMGET', rec, 'st', 'w', 'sa', 'xt', 'sy', 'wh', 'pg', 'sn', 'lp')
  if f[1] ~= 'IN_PROGRESS' then
    redis.call('ZREM', running, id)
  else
    local t = { rec = rec, stream = prefix .. ':s:' .. id, counters = counters, running = running, ttl = ttlKey, prefix = prefix,
      ep = ep, id = id, sync = f[5], streamed = f[8], keepRunMs = keepRunMs, keepSyncMs = keepSyncMs, stopWorker = false }
    if f[7] then redis.call('HDEL', rec, 'pg') end
    if now >= tonumber(f[3]) + tonumber(f[4]) then
      redis.call('HSET', rec, 'st', 'TIMED_OUT', 'fa', now, 'err', timeoutErr)
      t.status = 'TIMED_OUT'
      t.stopWorker = f[2] or false
      terminal(t)
      out[#out + 1] = 'timeout'; out[#out + 1] = id; out[#out + 1] = f[6] or ''; out[#out + 1] = 0; out[#out + 1] = f[2] or ''
    else
      local stalls = redis.call('HINCRBY', rec, 'stl', 1)
      if stalls > maxStalls then
        local err = cjson.encode('job lost its worker ' .. stalls .. ' times (maxWorkerLosses ' .. (maxStalls + 1) ..
          '): each time the worker stopped pinging before it finished (pod killed, OOM-killed, crashed or its node lost); last worker ' ..
          (f[2] or '?') .. '; giving up')
        redis.call('HSET', rec, 'st', 'FAILED', 'fa', now, 'err', err)
        redis.call('HDEL', rec, 'w', 'tk', 'sa')
        t.status = 'FAILED'
        terminal(t)
        out[#out + 1] = 'failed'; out[#out + 1] = id; out[#out + 1] = f[6] or ''; out[#out + 1] = stalls; out[#out + 1] = f[2] or ''
      else
        redis.call('HSET', rec, 'st', 'IN_QUEUE')
        redis.call('HDEL', rec, 'w', 'tk', 'sa')
        redis.call('ZREM', running, id)
        -- the right end is taken next: a re-queued job does not wait behind the whole queue again
        if f[9] == '1' then redis.call('RPUSH', lowKey, id) else redis.call('RPUSH', waitKey, id) end
        redis.call('PUBLISH', prefix .. ':ev', 'new|' .. ep .. '|')
        out[#out + 1] = 'requeued'; out[#out + 1] = id; out[#out + 1] = ''; out[#out + 1] = stalls; out[#out + 1] = f[2] or ''
      end
    end
  end
end
return out
