--[[ Score of a running job in the endpoint's running index: the earlier of its lease expiry (now + lease)
  and its execution deadline (started + execution timeout). The sweeper looks at a job when that time
  has come: deadline passed -> TIMED_OUT, otherwise the lease lapsed -> back to the queue. ]]
local function leaseScore(now, leaseMs, startedAt, executionTimeoutMs)
  local lease = tonumber(now) + tonumber(leaseMs)
  local deadline = tonumber(startedAt) + tonumber(executionTimeoutMs)
  if deadline < lease then return deadline end
  return lease
end
