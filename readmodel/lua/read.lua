#!lua flags=no-writes
-- One page of an organization's upcoming meetings, and the token check, in
-- one atomic read of the organization's slot.
-- KEYS: tok, view (the whole list, or one series), end, doc
-- ARGV: token sha256, now_ms, offset, limit
-- Returns {0} when the token is not issued to this organization, else
-- {1, total_items, documents joined by ",", next_end}. Meetings that have
-- ended by now are left out even when the projector has not pruned them yet.
-- next_end is the earliest end_time later than now of the organization's list
-- ('' if none): the answer cannot change by time alone before then.
local tok, view, end_z, docs = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, offset, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

if redis.call('HGET', tok, ARGV[1]) ~= '1' then return {0} end
local next_end = redis.call('ZRANGEBYSCORE', end_z, '(' .. now, '+inf', 'LIMIT', 0, 1, 'WITHSCORES')[2] or ''

local skip, ranks = {}, {}
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', end_z, '-inf', now)) do
  local rank = redis.call('ZRANK', view, entry)
  if rank then
    ranks[#ranks + 1] = rank
    skip[entry] = true
  end
end
local total = redis.call('ZCARD', view) - #ranks
if offset >= total or limit < 1 then return {1, total, '', next_end} end

-- The offset counts upcoming meetings only: step over ended ones before it.
table.sort(ranks)
local first = offset
for _, rank in ipairs(ranks) do
  if rank <= first then first = first + 1 else break end
end

local page = {}
for _, entry in ipairs(redis.call('ZRANGE', view, first, first + limit - 1 + #ranks)) do
  if not skip[entry] then
    page[#page + 1] = entry
    if #page == limit then break end
  end
end
local body = redis.call('HMGET', docs, unpack(page))
return {1, total, table.concat(body, ','), next_end}
