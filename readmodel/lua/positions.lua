-- How far each Kafka partition is applied in one generation, on this node.
-- KEYS[1]: the node's positions hash (readmodel/positions.py).
-- ARGV[1]: the channel to publish the result on ('' for none); ARGV[2]: its
-- message's prefix (generation and node); then triples: field, first, next:
-- the records [first, next) of partition field ("topic:partition") are applied.
--
-- field       the next offset applied contiguously from the partition's start:
--             every record before it is applied on this node.
-- field|i     "from-to": a run applied past a gap (records lost on this node,
--             or a rebuild's generation that the live projector writes ahead
--             of the replay); joined to field once field reaches it.
-- A position only grows by runs that touch it, so a node that lost writes
-- (and the later records of its positions) never has them claimed again.
-- Returns each triple's field value after it, and publishes them.
local key = KEYS[1]
local out, parts = {}, {}
for i = 3, #ARGV, 3 do
  local field, first, nxt = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local at = tonumber(redis.call('HGET', key, field) or '0')
  local from, to
  local island = redis.call('HGET', key, field .. '|i')
  if island then
    local a, b = string.match(island, '^(%d+)-(%d+)$')
    from, to = tonumber(a), tonumber(b)
  end
  if first <= at then
    if nxt > at then at = nxt end
  elseif from and first <= to and nxt >= from then
    if first < from then from = first end
    if nxt > to then to = nxt end
  elseif not from or nxt > to then
    from, to = first, nxt  -- the newer run is kept
  end
  if from and from <= at then
    if to > at then at = to end
    from = nil
  end
  local value = string.format('%d', at)
  redis.call('HSET', key, field, value)
  if from then
    redis.call('HSET', key, field .. '|i', string.format('%d-%d', from, to))
  elseif island then
    redis.call('HDEL', key, field .. '|i')
  end
  out[#out + 1] = value
  parts[#parts + 1] = field .. ':' .. value
end
if ARGV[1] ~= '' then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. table.concat(parts, ','))
end
return out
