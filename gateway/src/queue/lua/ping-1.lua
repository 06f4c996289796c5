--[[ Heartbeat (job-ping): renews the lease of every listed job this worker holds, and repeats the stop
  signal, at every ping that still lists it, of a job it must not run any more: one it held that was
  cancelled or timed out meanwhile, or one whose record is gone (removed by its ttl, expire-1.lua). A stop
  that reached the worker before its SDK had registered the job (the Python SDK starts a taken job up to
  0.1 s later) is otherwise ignored there, and the job would run to its end. This is the one re-send
  mechanism: the first stop comes from the transition itself (terminal.lua, expire-1.lua).
  KEYS[1] running index P:r:<ep>
  ARGV[1] key prefix P   ARGV[2] ep   ARGV[3] worker   ARGV[4] now (ms)   ARGV[5] lease (ms)   ARGV[6..] job ids
  Returns the number of leases renewed. ]]
--- @include "lease"
local running = KEYS[1]
local prefix, ep, worker, now, leaseMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local n = 0
local stopKey = prefix .. ':stop:' .. ep .. ':' .. worker
local stop = {}
for i = 6, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', prefix .. ':j:' .. id, 'st', 'w', 'sa', 'xt', 'ep')
  local mine = f[2] == worker and f[5] == ep
  if mine and f[1] == 'IN_PROGRESS' then
    redis.call('ZADD', running, 'XX', leaseScore(now, leaseMs, f[3], f[4]), id)
    n = n + 1
  elseif (not f[1]) or (mine and (f[1] == 'CANCELLED' or f[1] == 'TIMED_OUT')) then
    stop[#stop + 1] = id
  end
end
if #stop > 0 then
  redis.call('SADD', stopKey, unpack(stop))
  redis.call('PEXPIRE', stopKey, 600000)
  redis.call('PUBLISH', prefix .. ':ev', 'x|' .. ep .. '|' .. worker)
end
return n
