#!lua flags=no-writes
-- One page of a member's upcoming meetings in an organization's list, and the
-- token check, in one atomic read of the organization's slot. A member's list
-- is short, so it is filtered whole: by end (not yet ended) and by series.
-- KEYS: tok, member list (base:u:<member>), end, doc, series (or any key, unused)
-- ARGV: token sha256, now_ms, offset, limit, "1" to filter by the series
-- Returns {0} when the token is not issued to this organization, else
-- {1, total_items, documents joined by ",", next_end}: next_end is the earliest
-- end_time later than now of the organization's list ('' if none), before
-- which the answer cannot change by time alone.
local tok, listed_z, end_z, docs, series_z = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, offset, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local filtered = ARGV[5] == '1'

if redis.call('HGET', tok, ARGV[1]) ~= '1' then return {0} end
local next_end = redis.call('ZRANGEBYSCORE', end_z, '(' .. ARGV[2], '+inf', 'LIMIT', 0, 1, 'WITHSCORES')[2] or ''

local upcoming = {}
for _, m in ipairs(redis.call('ZRANGE', listed_z, 0, -1)) do
  local ends = tonumber(redis.call('ZSCORE', end_z, m))
  if ends and ends > now and (not filtered or redis.call('ZSCORE', series_z, m)) then
    upcoming[#upcoming + 1] = m
  end
end
if offset >= #upcoming or limit < 1 then return {1, #upcoming, '', next_end} end

local page = {}
for i = offset + 1, math.min(offset + limit, #upcoming) do page[#page + 1] = upcoming[i] end
return {1, #upcoming, table.concat(redis.call('HMGET', docs, unpack(page)), ','), next_end}
