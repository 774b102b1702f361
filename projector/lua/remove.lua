-- Take one meeting out of one organization's lists, atomic in its slot.
-- KEYS: start, end, doc, meta, gone, eap
-- ARGV: base, org, member, key, now_ms, own ("1" when the meeting was this
--       organization's own, so its EAP copies must go too)
-- Leaves a tombstone (the key) in meta so that an older write cannot bring the
-- meeting back. Returns the linked EAP organizations when own and not stale.
local start_z, end_z, docs, meta, gone, eap = unpack(KEYS)
local base, org, m, key, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]

local old = redis.call('HGET', meta, m)
local old_key, old_series, old_source = 0, '', ''
if old then
  local k, sid, src = string.match(old, '^([^|]*)|([^|]*)|([^|]*)$')
  old_key, old_series, old_source = tonumber(k), sid, src
end

if key > old_key then
  redis.call('ZREM', start_z, m)
  redis.call('ZREM', end_z, m)
  redis.call('HDEL', docs, m)
  if old_series ~= '' then redis.call('ZREM', base .. ':s:' .. old_series, m) end
  if old_source ~= '' and old_source ~= org then
    redis.call('SREM', base .. ':from:' .. old_source, m)
  end
  redis.call('HSET', meta, m, ARGV[4] .. '||')
  redis.call('ZADD', gone, now, m)
end

if ARGV[6] ~= '1' or key < old_key then return {} end
local linked = {}
local pairs_ = redis.call('HGETALL', eap)
for i = 1, #pairs_, 2 do
  if tonumber(pairs_[i + 1]) > 0 then linked[#linked + 1] = pairs_[i] end
end
return linked
