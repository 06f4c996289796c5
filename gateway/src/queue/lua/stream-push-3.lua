--[[ job-stream: appends a chunk while this worker holds the job; wakes /stream readers; renews the lease.
  KEYS[1] record   KEYS[2] stream list P:s:<id>   KEYS[3] running index P:r:<ep>
  ARGV[1] worker   ARGV[2] chunk JSON   ARGV[3] events channel   ARGV[4] now (ms)   ARGV[5] lease (ms)
  ARGV[6] ep   ARGV[7] id
  Returns 'nf' (no such job on this endpoint), false (not held by this worker) or 1. ]]
--- @include "lease"
local rec, stream, running = KEYS[1], KEYS[2], KEYS[3]
local worker, chunk, channel, now, leaseMs, ep, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local f = redis.call('HMGET', rec, 'ep', 'st', 'w', 'sa', 'xt', 'sn')
if f[1] ~= ep then return 'nf' end
if f[2] ~= 'IN_PROGRESS' or f[3] ~= worker then return false end
redis.call('RPUSH', stream, chunk)
-- 'sn' marks a job with a stream: the terminal transition then gives the stream the record's retention
if not f[6] then redis.call('HSET', rec, 'sn', 1) end
redis.call('PUBLISH', channel, 's|' .. id)
redis.call('ZADD', running, 'XX', leaseScore(now, leaseMs, f[4], f[5]), id)
return 1
