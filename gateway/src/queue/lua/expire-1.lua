--[[ Jobs whose ttl elapsed are removed, queued or running (RunPod: "TTL is a hard limit. If TTL expires
  while a job is running, the job is immediately removed and status checks return 404"): record and stream
  are deleted, a queued job leaves its wait list, a running one the running index and its worker is told
  to stop (a late job-done then finds no job: 404). A job that finished first lost its entry in terminal().
  KEYS[1] ttl index P:ttl (zset "<ep>|<id>" -> expires at)
  ARGV[1] key prefix P   ARGV[2] now (ms)   ARGV[3] at most this many
  Returns { ep, id, previous status ('' = record already gone), ... } of the jobs removed. ]]
local ttlKey = KEYS[1]
local prefix, now, limit = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', ttlKey, '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', ttlKey, m)
  local sep = string.find(m, '|', 1, true)
  local ep, id = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
  local rec = prefix .. ':j:' .. id
  local f = redis.call('HMGET', rec, 'st', 'lp', 'w')
  local st = f[1]
  if (not st) or st == 'IN_QUEUE' or st == 'IN_PROGRESS' then
    if st == 'IN_PROGRESS' then
      redis.call('ZREM', prefix .. ':r:' .. ep, id)
      if f[3] then
        local stopKey = prefix .. ':stop:' .. ep .. ':' .. f[3]
        redis.call('SADD', stopKey, id)
        redis.call('PEXPIRE', stopKey, 600000)
        redis.call('PUBLISH', prefix .. ':ev', 'x|' .. ep .. '|' .. f[3])
      end
    elseif f[2] == '1' then redis.call('LREM', prefix .. ':ql:' .. ep, -1, id)
    else redis.call('LREM', prefix .. ':q:' .. ep, -1, id) end
    redis.call('DEL', rec, prefix .. ':s:' .. id)
    -- waiters (/status-sync, /runsync, /stream) on other replicas answer 404 now
    if st then redis.call('PUBLISH', prefix .. ':ev', 'd|' .. id) end
    out[#out + 1] = ep; out[#out + 1] = id; out[#out + 1] = st or ''
  end
end
return out
