-- Atomic REGISTER for one address-of-record (all keys share the AOR's hash
-- slot through the {aor} tag).
-- KEYS[1] index: sorted set, member = binding id, score = expiry (ms)
-- KEYS[2] cseq:  hash, field = Call-ID, value = last CSeq
-- KEYS[3] nonce-use key, or "" for none
-- Expiries are relative to now_ms, so app and Redis clocks need not agree.
-- ARGV: binding key prefix, now_ms, call_id, cseq, nonce_ttl_s, remove_all,
--       then triples: id, expires_s (0 = remove), record
local idx, cseqs, nonce = KEYS[1], KEYS[2], KEYS[3]
local prefix, now = ARGV[1], tonumber(ARGV[2])
local call_id, cseq = ARGV[3], tonumber(ARGV[4])

if nonce ~= '' then
  if not redis.call('SET', nonce, '1', 'NX', 'EX', tonumber(ARGV[5])) then
    return {-2}
  end
end
local last = redis.call('HGET', cseqs, call_id)
if last and tonumber(last) >= cseq then
  return {-1}
end

redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)
if ARGV[6] == '1' then
  for _, id in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
    redis.call('DEL', prefix .. id)
  end
  redis.call('DEL', idx)
end
for i = 7, #ARGV, 3 do
  local id, expires = ARGV[i], tonumber(ARGV[i + 1])
  if expires == 0 then
    redis.call('DEL', prefix .. id)
    redis.call('ZREM', idx, id)
  else
    redis.call('SET', prefix .. id, ARGV[i + 2], 'PX', expires * 1000)
    redis.call('ZADD', idx, now + expires * 1000, id)
  end
end

redis.call('HSET', cseqs, call_id, cseq)
local ids = redis.call('ZRANGEBYSCORE', idx, '(' .. now, '+inf', 'WITHSCORES')
local out = {0}
local max_exp = now
for i = 1, #ids, 2 do
  local rec = redis.call('GET', prefix .. ids[i])
  if rec then table.insert(out, rec) end
  max_exp = math.max(max_exp, tonumber(ids[i + 1]))
end
if #ids == 0 then
  redis.call('DEL', idx)
else
  redis.call('PEXPIRE', idx, max_exp - now)
end
-- Remember CSeqs a while after the last binding goes (RFC 3261 §10.3).
redis.call('PEXPIRE', cseqs, max_exp - now + 3600000)
return out
