--[[ Heartbeat (job-ping): renews the lease of every listed job this worker holds, and repeats the stop
  signal of a listed job it held that was cancelled or timed out meanwhile: a stop that reached the worker
  before its SDK had registered the job (the Python SDK starts a taken job up to 0.1 s later) is otherwise
  ignored there, and the job would run to its end.
  KEYS[1] running index P:r:<ep>
  ARGV[1] key prefix P   ARGV[2] ep   ARGV[3] worker   ARGV[4] now (ms)   ARGV[5] lease (ms)   ARGV[6..] job ids
  Returns the number of leases renewed. ]]
--- @include "lease"
local running = KEYS[1]
local prefix, ep, worker, now, leaseMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local n = 0
local stopKey = prefix .. ':stop:' .. ep .. ':' .. worker
for i = 6, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', prefix .. ':j:' .. id, 'st', 'w', 'sa', 'xt', 'ep')
  if f[2] == worker and f[5] == ep then
    if f[1] == 'IN_PROGRESS' then
      redis.call('ZADD', running, 'XX', leaseScore(now, leaseMs, f[3], f[4]), id)
      n = n + 1
    elseif f[1] == 'CANCELLED' or f[1] == 'TIMED_OUT' then
      redis.call('SADD', stopKey, id)
      redis.call('PEXPIRE', stopKey, 600000)
      redis.call('PUBLISH', prefix .. ':ev', 'x|' .. ep .. '|' .. worker)
    end
  end
end
return n
