--[[ job-done with status IN_PROGRESS: a progress update from the worker that holds the job; renews its lease.
  KEYS[1] record   KEYS[2] running index P:r:<ep>
  ARGV[1] worker   ARGV[2] progress JSON   ARGV[3] now (ms)   ARGV[4] lease (ms)   ARGV[5] ep   ARGV[6] id
  Returns 'nf' (no such job on this endpoint), false (not held by this worker) or 1. ]]
--- @include "lease"
local rec, running = KEYS[1], KEYS[2]
local worker, progress, now, leaseMs, ep, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local f = redis.call('HMGET', rec, 'ep', 'st', 'w', 'sa', 'xt')
if f[1] ~= ep then return 'nf' end
if f[2] ~= 'IN_PROGRESS' or f[3] ~= worker then return false end
redis.call('HSET', rec, 'pg', progress)
redis.call('ZADD', running, 'XX', leaseScore(now, leaseMs, f[4], f[5]), id)
return 1
