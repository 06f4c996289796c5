// Lua scripts for the job *record* (status, output, stream cursor) — the part of a job's state that
// BullMQ does not model. BullMQ owns ordering, priorities, the atomic take with a lock (lease) and
// stalled-job recovery; these scripts own RunPod's status machine. Each transition is one atomic
// script so two gateway replicas (or a sweeper racing a job-done) can never both "win" a job.
//
// Record hash P:j:<id> fields:
//   ep  endpoint id          st  status           in  job payload JSON ({"input":..,"s3Config"?})
//   ca  created ms           sa  started ms       fa  finished ms
//   w   worker id            tk  lease token (BullMQ lock value of the current attempt)
//   xt  execution timeout ms ttl ttl ms           lp  1 = lowPriority      sy  1 = /runsync job
//   wh  webhook url          out output JSON      err error JSON           pg  progress output JSON
//   sc  stream cursor (chunks already delivered by /stream)                rt  retries   stl stalls
// Stream list P:s:<id> holds chunk JSON strings.
//
// Events are published on channel P:ev as "d|<id>" (terminal), "s|<id>" (stream chunk),
// "x|<ep>|<worker>" (stop signal for a worker) so long-polls on any replica wake at once.

/** KEYS: rec, ttl(zset)   ARGV: ttlMs, expiresAtMs, ttlMember, field1, value1, field2, value2, ...
 *  A new job record (submit): the fields, its expiry and its entry in the ttl index, in one atomic step.
 *  A script rather than MULTI/EXEC: one command and one reply instead of five (MULTI, HSET, PEXPIRE, ZADD,
 *  EXEC), less work for the gateway and for Redis on every submit. */
export const CREATE = `
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
`;

/** KEYS: rec, dl(zset), ttl(zset)   ARGV: worker, token, now, prefix, ep, id
 *  (the ttl entry stays while the job runs: RunPod's ttl is a hard limit from submission, and a job whose
 *  ttl passes while running is removed — EXPIRE below; FINISH / ABORT drop the entry)
 *  Returns the payload JSON, or false when the job must be discarded (missing or terminal).
 *  IN_PROGRESS is accepted: BullMQ handed us the job, so a previous attempt's lease lapsed
 *  (the replica that noticed may have died before rewriting the record). */
export const TAKE = `
local st = redis.call('HGET', KEYS[1], 'st')
if (not st) or (st ~= 'IN_QUEUE' and st ~= 'IN_PROGRESS') then return false end
local f = redis.call('HMGET', KEYS[1], 'in', 'xt')
redis.call('HSET', KEYS[1], 'st', 'IN_PROGRESS', 'w', ARGV[1], 'tk', ARGV[2], 'sa', ARGV[3])
local pw = redis.call('HGET', KEYS[1], 'pw') or '|'
if not string.find(pw, '|' .. ARGV[1] .. '|', 1, true) then redis.call('HSET', KEYS[1], 'pw', pw .. ARGV[1] .. '|') end
redis.call('HDEL', KEYS[1], 'pg')
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(f[2]), ARGV[5] .. '|' .. ARGV[6] .. '|' .. ARGV[2])
return f[1]
`;

/** KEYS: rec, dl, stream, counters   ARGV: worker, status, field(out|err), valueJSON, now,
 *  retentionRunMs, retentionSyncMs, prefix, ep, id
 *  Final result. Accepted from the worker that holds the job, and also from a worker that held it
 *  before (pw) while the job is not finished: a worker whose lease lapsed (e.g. it stopped pinging while
 *  draining on SIGTERM) still delivers a valid result; the first result wins and a worker now running
 *  the re-queued job is told to stop. Returns 'nf' (no such job on this endpoint), false (refused), or
 *  {token of the current lease or '', webhook, previous status, ca, sa, rt} (the last three: what the
 *  gateway needs to answer a /runsync or /status-sync waiting on this replica without reading the record
 *  again; '' when absent). */
export const FINISH = `
local f = redis.call('HMGET', KEYS[1], 'st', 'w', 'tk', 'sy', 'wh', 'pw', 'ep', 'ca', 'sa', 'rt')
if f[7] ~= ARGV[9] then return 'nf' end
local holder = (f[1] == 'IN_PROGRESS' and f[2] == ARGV[1])
local former = (f[1] == 'IN_QUEUE' or f[1] == 'IN_PROGRESS') and f[6] and string.find(f[6], '|' .. ARGV[1] .. '|', 1, true)
if (not holder) and (not former) then return false end
redis.call('HSET', KEYS[1], 'st', ARGV[2], ARGV[3], ARGV[4], 'fa', ARGV[5], 'w', ARGV[1])
redis.call('HDEL', KEYS[1], 'pg')
if f[3] then redis.call('ZREM', KEYS[2], ARGV[9] .. '|' .. ARGV[10] .. '|' .. f[3]) end
redis.call('ZREM', ARGV[8] .. ':ttl', ARGV[9] .. '|' .. ARGV[10])
local keep = ARGV[6]
if f[4] == '1' then keep = ARGV[7] end
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[3], keep)
redis.call('HINCRBY', KEYS[4], string.lower(ARGV[2]), 1)
redis.call('PUBLISH', ARGV[8] .. ':ev', 'd|' .. ARGV[10])
if (not holder) and f[1] == 'IN_PROGRESS' and f[2] then
  redis.call('SADD', ARGV[8] .. ':stop:' .. ARGV[9] .. ':' .. f[2], ARGV[10])
  redis.call('PEXPIRE', ARGV[8] .. ':stop:' .. ARGV[9] .. ':' .. f[2], 600000)
  redis.call('PUBLISH', ARGV[8] .. ':ev', 'x|' .. ARGV[9] .. '|' .. f[2])
end
if f[1] == 'IN_PROGRESS' then return {f[3] or '', f[5] or '', f[1], f[8] or '', f[9] or '', f[10] or ''} end
return {'', f[5] or '', f[1], f[8] or '', f[9] or '', f[10] or ''}
`;

/** KEYS: rec, dl, stream, counters   ARGV: newStatus, now, retentionRunMs, retentionSyncMs, prefix, ep, id,
 *  onlyIfToken ('' = any), errorJSON ('' = none)
 *  Cancel (CANCELLED) or execution timeout (TIMED_OUT) by the gateway.
 *  Returns {previousStatus, worker, token, webhook} or false when already terminal / token moved on. */
export const ABORT = `
local f = redis.call('HMGET', KEYS[1], 'st', 'w', 'tk', 'sy', 'wh')
if f[1] ~= 'IN_QUEUE' and f[1] ~= 'IN_PROGRESS' then return false end
if ARGV[8] ~= '' and (f[1] ~= 'IN_PROGRESS' or f[3] ~= ARGV[8]) then return false end
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'fa', ARGV[2])
if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'err', ARGV[9]) end
redis.call('HDEL', KEYS[1], 'pg')
if f[3] then redis.call('ZREM', KEYS[2], ARGV[6] .. '|' .. ARGV[7] .. '|' .. f[3]) end
redis.call('ZREM', ARGV[5] .. ':ttl', ARGV[6] .. '|' .. ARGV[7])
local keep = ARGV[3]
if f[4] == '1' then keep = ARGV[4] end
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[3], keep)
redis.call('HINCRBY', KEYS[4], string.lower(ARGV[1]), 1)
redis.call('PUBLISH', ARGV[5] .. ':ev', 'd|' .. ARGV[7])
if f[1] == 'IN_PROGRESS' and f[2] then
  redis.call('SADD', ARGV[5] .. ':stop:' .. ARGV[6] .. ':' .. f[2], ARGV[7])
  redis.call('PEXPIRE', ARGV[5] .. ':stop:' .. ARGV[6] .. ':' .. f[2], 600000)
  redis.call('PUBLISH', ARGV[5] .. ':ev', 'x|' .. ARGV[6] .. '|' .. f[2])
end
return {f[1], f[2] or '', f[3] or '', f[5] or ''}
`;

/** KEYS: rec, stream   ARGV: worker, chunkJSON, prefix, id
 *  Appends a stream chunk if the worker still holds the job. Returns the token or false. */
export const STREAM_PUSH = `
local f = redis.call('HMGET', KEYS[1], 'st', 'w', 'tk')
if f[1] ~= 'IN_PROGRESS' or f[2] ~= ARGV[1] then return false end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[3] .. ':ev', 's|' .. ARGV[4])
return f[3]
`;

/** KEYS: rec   ARGV: worker, progressJSON. Returns token or false. */
export const PROGRESS = `
local f = redis.call('HMGET', KEYS[1], 'st', 'w', 'tk')
if f[1] ~= 'IN_PROGRESS' or f[2] ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'pg', ARGV[2])
return f[3]
`;

/** KEYS: rec, stream   Returns {status, chunk...} and advances the cursor; false if missing. */
export const STREAM_READ = `
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return false end
local c = tonumber(redis.call('HGET', KEYS[1], 'sc') or '0')
local items = redis.call('LRANGE', KEYS[2], c, -1)
if #items > 0 then redis.call('HSET', KEYS[1], 'sc', c + #items) end
table.insert(items, 1, st)
return items
`;

/** KEYS: rec, stream, counters   ARGV: now, ttlMs
 *  FAILED / TIMED_OUT -> IN_QUEUE. Returns 1, or the current status when not retryable, false if missing. */
export const RETRY = `
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return false end
if st ~= 'FAILED' and st ~= 'TIMED_OUT' then return st end
redis.call('HDEL', KEYS[1], 'out', 'err', 'w', 'tk', 'sa', 'fa', 'pg', 'sc')
redis.call('HSET', KEYS[1], 'st', 'IN_QUEUE', 'ca', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'rt', 1)
redis.call('HINCRBY', KEYS[3], 'retried', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
`;

/** KEYS: rec   ARGV: token, maxStalls
 *  A lapsed lease was put back in the queue by BullMQ: IN_PROGRESS -> IN_QUEUE (cosmetic: the take script
 *  accepts both). Returns the stall count, or false when the record moved on. */
export const REQUEUE = `
local f = redis.call('HMGET', KEYS[1], 'st', 'tk')
if f[1] ~= 'IN_PROGRESS' then return false end
redis.call('HSET', KEYS[1], 'st', 'IN_QUEUE')
redis.call('HDEL', KEYS[1], 'w', 'tk', 'sa', 'pg')
return redis.call('HINCRBY', KEYS[1], 'stl', 1)
`;

/** KEYS: waitList   ARGV: recPrefix. Created-at ms of the oldest waiting (normal priority) job, or -1. */
export const OLDEST = `
local id = redis.call('LINDEX', KEYS[1], -1)
if not id then return -1 end
local ca = redis.call('HGET', ARGV[1] .. id, 'ca')
if not ca then return -1 end
return tonumber(ca)
`;

/** KEYS: rec, stream, dl   ARGV: prefix, ep, id
 *  ttl elapsed (RunPod: "TTL is a hard limit. If TTL expires while a job is running, the job is immediately
 *  removed and status checks return 404"): a queued or running job's record and stream are deleted; a
 *  running job's worker is told to stop (job-stop). Returns {previousStatus, token or ''}, 'gone' when the
 *  record is already missing, or false when the job finished first (its result is kept for retention). */
export const EXPIRE = `
local f = redis.call('HMGET', KEYS[1], 'st', 'w', 'tk', 'ep')
if not f[1] then return 'gone' end
if f[4] ~= ARGV[2] or (f[1] ~= 'IN_QUEUE' and f[1] ~= 'IN_PROGRESS') then return false end
redis.call('DEL', KEYS[1], KEYS[2])
if f[3] then redis.call('ZREM', KEYS[3], ARGV[2] .. '|' .. ARGV[3] .. '|' .. f[3]) end
if f[1] == 'IN_PROGRESS' and f[2] then
  redis.call('SADD', ARGV[1] .. ':stop:' .. ARGV[2] .. ':' .. f[2], ARGV[3])
  redis.call('PEXPIRE', ARGV[1] .. ':stop:' .. ARGV[2] .. ':' .. f[2], 600000)
  redis.call('PUBLISH', ARGV[1] .. ':ev', 'x|' .. ARGV[2] .. '|' .. f[2])
end
redis.call('PUBLISH', ARGV[1] .. ':ev', 'd|' .. ARGV[3])
return {f[1], f[3] or ''}
`;
