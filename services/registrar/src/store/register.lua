-- Atomic REGISTER for one address-of-record (all keys share the AOR's hash
-- slot through the {aor} tag). Expiries are relative to now_ms, so the app's
-- and Redis's clocks need not agree.
-- KEYS[1] index: sorted set, member = binding id, score = expiry (ms)
-- KEYS[2] meta:  hash, field = binding id, value = "<cseq> <call-id>"
-- KEYS[3] nonce-use key, if ARGV[8] is 1
-- KEYS[3 or 4] the source's ban key, if ARGV[9] is 1 (not in a cluster:
--       another slot)
-- ARGV: binding key prefix, now_ms, call_id, cseq, nonce_ttl_s, remove_all,
--       max_contacts (0 = no limit), has nonce, has ban, then triples: id,
--       expires_s (0 = remove), record
local idx, meta = KEYS[1], KEYS[2]
local nonce = ARGV[8] == '1' and KEYS[3] or nil
local ban = ARGV[9] == '1' and KEYS[nonce and 4 or 3] or nil
local prefix, now = ARGV[1], tonumber(ARGV[2])
local call_id, cseq = ARGV[3], tonumber(ARGV[4])

-- A banned source changes nothing.
if ban then
  local left = redis.call('TTL', ban)
  if left > 0 then return {-4, left} end
end

local tag = cseq .. ' ' .. call_id
-- The nonce use remembers the request (CSeq, Call-ID) that made it. The same
-- request again is a retry (the replica that applied it died before
-- answering): answered from the bindings it left, if nothing changed since.
local retried = false
if nonce then
  if not redis.call('SET', nonce, tag, 'NX', 'EX', tonumber(ARGV[5])) then
    if redis.call('GET', nonce) ~= tag then return {-2} end
    retried = true
  end
end

-- Forget expired bindings.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', idx, '-inf', now)) do
  redis.call('HDEL', meta, id)
end
redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)

-- RFC 3261 §10.3 step 7: a binding from the same Call-ID with a CSeq not
-- below this one aborts the whole request.
local function out_of_order(id)
  local m = redis.call('HGET', meta, id)
  if not m then return false end
  local sp = string.find(m, ' ', 1, true)
  return string.sub(m, sp + 1) == call_id and tonumber(string.sub(m, 1, sp - 1)) >= cseq
end
local all = redis.call('ZRANGE', idx, 0, -1)
local tag_ok = function(i)
  local m = redis.call('HGET', meta, ARGV[i])
  if tonumber(ARGV[i + 1]) == 0 then return not m end
  return m == tag
end
if retried then
  -- Still as that request left them: every change in place, else a replay.
  if ARGV[6] == '1' and #all > 0 then return {-2} end
  for i = 10, #ARGV, 3 do
    if not tag_ok(i) then return {-2} end
  end
else
  if ARGV[6] == '1' then
    for _, id in ipairs(all) do
      if out_of_order(id) then return {-1} end
    end
  end
  for i = 10, #ARGV, 3 do
    if out_of_order(ARGV[i]) then return {-1} end
  end
  -- max_contacts: count what the AOR would hold; over it, nothing changes.
  local max = tonumber(ARGV[7])
  if max > 0 then
    local live, n = {}, 0
    if ARGV[6] ~= '1' then
      for _, id in ipairs(all) do live[id] = true; n = n + 1 end
    end
    for i = 10, #ARGV, 3 do
      local id = ARGV[i]
      if tonumber(ARGV[i + 1]) == 0 then
        if live[id] then live[id] = nil; n = n - 1 end
      elseif not live[id] then
        live[id] = true; n = n + 1
      end
    end
    if n > max then return {-3} end
  end
  if ARGV[6] == '1' then
    for _, id in ipairs(all) do
      redis.call('DEL', prefix .. id)
    end
    redis.call('DEL', idx, meta)
  end
  for i = 10, #ARGV, 3 do
    local id, expires = ARGV[i], tonumber(ARGV[i + 1])
    if expires == 0 then
      redis.call('DEL', prefix .. id)
      redis.call('ZREM', idx, id)
      redis.call('HDEL', meta, id)
    else
      redis.call('SET', prefix .. id, ARGV[i + 2], 'PX', expires * 1000)
      redis.call('ZADD', idx, now + expires * 1000, id)
      redis.call('HSET', meta, id, tag)
    end
  end
end

local ids = redis.call('ZRANGEBYSCORE', idx, '(' .. now, '+inf', 'WITHSCORES')
local out = {0}
local max_exp = now
for i = 1, #ids, 2 do
  local rec = redis.call('GET', prefix .. ids[i])
  if rec then table.insert(out, rec) end
  max_exp = math.max(max_exp, tonumber(ids[i + 1]))
end
if #ids == 0 then
  redis.call('DEL', idx, meta)
else
  redis.call('PEXPIRE', idx, max_exp - now)
  redis.call('PEXPIRE', meta, max_exp - now)
end
return out
