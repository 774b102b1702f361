#!lua flags=no-writes
-- One page of a member's upcoming meetings in an organization's list, and the
-- token check, in one atomic read of the organization's slot. A member's list
-- is short, so it is filtered whole (by end: not yet ended; by series) and
-- sorted, as the organization's list is, by start then entry.
-- KEYS: tok, users (members' lists), start, end, doc, series (or any key,
--       unused), the member's list in a layout-1 generation (a sorted set)
-- ARGV: token sha256, now_ms, offset, limit, "1" to filter by the series, member id,
--       "1" when the generation is of layout 1
-- Returns {0} when the token is not issued to this organization, else
-- {1, total_items, documents joined by ",", next_end}: next_end is the earliest
-- end_time later than now of the organization's list ('' if none), before
-- which the answer cannot change by time alone.
local tok, users, start_z, end_z, docs, series_z, before = unpack(KEYS)
local now, offset, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local filtered = ARGV[5] == '1'

if redis.call('HGET', tok, ARGV[1]) ~= '1' then return {0} end
local next_end = redis.call('ZRANGEBYSCORE', end_z, '(' .. ARGV[2], '+inf', 'LIMIT', 0, 1, 'WITHSCORES')[2] or ''

local followed = redis.call('HGET', users, ARGV[6]) or ''
if followed == '' and ARGV[7] == '1' then
  -- LAYOUT 1 ONLY: a generation made before ``users`` keeps a sorted set per
  -- member (readmodel/reader.py READABLE_LAYOUTS).
  followed = table.concat(redis.call('ZRANGE', before, 0, -1), ',')
end
local upcoming, starts = {}, {}
for e in string.gmatch(followed, '[^,]+') do
  local ends = tonumber(redis.call('ZSCORE', end_z, e))
  if ends and ends > now and (not filtered or redis.call('ZSCORE', series_z, e)) then
    upcoming[#upcoming + 1] = e
    starts[e] = tonumber(redis.call('ZSCORE', start_z, e))
  end
end
if offset >= #upcoming or limit < 1 then return {1, #upcoming, '', next_end} end

-- Equal starts in entry order, as a sorted set has them: an entry's letter
-- tells its number of digits (readmodel/keys.py), so order by length, then
-- by the digits.
table.sort(upcoming, function(a, b)
  if starts[a] ~= starts[b] then return starts[a] < starts[b] end
  if #a ~= #b then return #a < #b end
  return a < b
end)

local page = {}
for i = offset + 1, math.min(offset + limit, #upcoming) do page[#page + 1] = upcoming[i] end
return {1, #upcoming, table.concat(redis.call('HMGET', docs, unpack(page)), ','), next_end}
