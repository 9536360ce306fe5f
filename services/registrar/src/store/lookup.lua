-- Live bindings of one AOR. KEYS[1] index; ARGV: binding key prefix, now_ms.
local idx, prefix, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', idx, '(' .. now, '+inf')) do
  local rec = redis.call('GET', prefix .. id)
  if rec then table.insert(out, rec) end
end
return out
