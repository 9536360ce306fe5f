-- Atomic REGISTER for one address-of-record (all keys share the AOR's hash
-- slot through the {aor} tag). Expiries are relative to now_ms, so the app's
-- and Redis's clocks need not agree. The AOR's index and meta are read once
-- each and worked on here: every redis.call costs Redis more than the Lua
-- around it, and this script runs for every registration.
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
local remove_all = ARGV[6] == '1'

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

-- `cmd key a b c…` over `list`, a few hundred at a time (Lua's stack).
local function batched(cmd, key, list)
  for i = 1, #list, 256 do
    if key then
      redis.call(cmd, key, unpack(list, i, math.min(i + 255, #list)))
    else
      redis.call(cmd, unpack(list, i, math.min(i + 255, #list)))
    end
  end
end

-- The AOR's bindings, id → expiry (ms); expired ones are forgotten.
local live, ids, expired = {}, {}, {}
local scored = redis.call('ZRANGE', idx, 0, -1, 'WITHSCORES')
for i = 1, #scored, 2 do
  local id, at = scored[i], tonumber(scored[i + 1])
  if at <= now then
    expired[#expired + 1] = id
  else
    live[id] = at
    ids[#ids + 1] = id
  end
end
if #expired > 0 then
  batched('HDEL', meta, expired)
  batched('ZREM', idx, expired)
end
local tags = {}
if #ids > 0 then
  local flat = redis.call('HGETALL', meta)
  for i = 1, #flat, 2 do
    if live[flat[i]] then tags[flat[i]] = flat[i + 1] end
  end
end

-- RFC 3261 §10.3 step 7: a binding from the same Call-ID with a CSeq not
-- below this one aborts the whole request.
local function out_of_order(id)
  local m = tags[id]
  if not m then return false end
  local sp = string.find(m, ' ', 1, true)
  return string.sub(m, sp + 1) == call_id and tonumber(string.sub(m, 1, sp - 1)) >= cseq
end
local fresh = {}
if retried then
  -- Still as that request left them: every change in place, else a replay.
  if remove_all and #ids > 0 then return {-2} end
  for i = 10, #ARGV, 3 do
    local m = tags[ARGV[i]]
    if tonumber(ARGV[i + 1]) == 0 then
      if m then return {-2} end
    elseif m ~= tag then
      return {-2}
    end
  end
else
  if remove_all then
    for _, id in ipairs(ids) do
      if out_of_order(id) then return {-1} end
    end
  end
  for i = 10, #ARGV, 3 do
    if out_of_order(ARGV[i]) then return {-1} end
  end
  -- max_contacts: count what the AOR would hold; over it, nothing changes.
  local max = tonumber(ARGV[7])
  if max > 0 then
    local held, n = {}, 0
    if not remove_all then
      for _, id in ipairs(ids) do held[id] = true; n = n + 1 end
    end
    for i = 10, #ARGV, 3 do
      local id = ARGV[i]
      if tonumber(ARGV[i + 1]) == 0 then
        if held[id] then held[id] = nil; n = n - 1 end
      elseif not held[id] then
        held[id] = true; n = n + 1
      end
    end
    if n > max then return {-3} end
  end
  if remove_all then
    local keys = {}
    for _, id in ipairs(ids) do keys[#keys + 1] = prefix .. id end
    batched('DEL', nil, keys)
    redis.call('DEL', idx, meta)
    live, ids = {}, {}
  end
  for i = 10, #ARGV, 3 do
    local id, expires = ARGV[i], tonumber(ARGV[i + 1])
    if expires == 0 then
      redis.call('DEL', prefix .. id)
      redis.call('ZREM', idx, id)
      redis.call('HDEL', meta, id)
      live[id] = nil
    else
      local at = now + expires * 1000
      redis.call('SET', prefix .. id, ARGV[i + 2], 'PX', expires * 1000)
      redis.call('ZADD', idx, at, id)
      redis.call('HSET', meta, id, tag)
      if not live[id] then ids[#ids + 1] = id end
      live[id] = at
      fresh[id] = ARGV[i + 2]
    end
  end
end

-- The AOR's bindings now: the records just written, the others read.
local out, others, max_exp = {0}, {}, now
for _, id in ipairs(ids) do
  local at = live[id]
  if at then
    max_exp = math.max(max_exp, at)
    if fresh[id] then
      out[#out + 1] = fresh[id]
    else
      others[#others + 1] = prefix .. id
    end
  end
end
for i = 1, #others, 256 do
  local recs = redis.call('MGET', unpack(others, i, math.min(i + 255, #others)))
  for _, rec in ipairs(recs) do
    if rec then out[#out + 1] = rec end
  end
end
if max_exp == now then
  redis.call('DEL', idx, meta)
else
  redis.call('PEXPIRE', idx, max_exp - now)
  redis.call('PEXPIRE', meta, max_exp - now)
end
return out
