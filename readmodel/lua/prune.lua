-- Free the memory of meetings that have ended, in one organization's slot.
-- KEYS: start, end, doc, meta, gone
-- ARGV: base, org, now_ms, tombstone_retention_ms, limit
-- Ended meetings leave the lists (their tombstone keeps their key); tombstones
-- older than the retention are dropped. Returns how many entries were freed.
local start_z, end_z, docs, meta, gone = unpack(KEYS)
local base, org, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local retention, limit = tonumber(ARGV[4]), tonumber(ARGV[5])

local ended = redis.call('ZRANGEBYSCORE', end_z, '-inf', now, 'LIMIT', 0, limit)
for _, entry in ipairs(ended) do
  local key, series, source, _, people, pkey, count = read_meta(meta, entry)
  unlist(base, org, entry, series, source, people)
  tombstone(meta, entry, key, people, pkey, count)
  redis.call('ZADD', gone, now, entry)
end

local expired = redis.call('ZRANGEBYSCORE', gone, '-inf', now - retention, 'LIMIT', 0, limit)
for _, entry in ipairs(expired) do
  redis.call('HDEL', meta, entry)
  redis.call('ZREM', gone, entry)
end
return #ended + #expired
