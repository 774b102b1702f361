-- Write one meeting into one organization's lists, atomic in its slot {o<id>}.
-- KEYS: start, end, doc, meta, gone, links, eap
-- ARGV: base, org, member, key, start_ms, end_ms, series, source org, doc,
--       people (the members registered or leading, comma-separated),
--       version (of the meeting's snapshot), registered_attendees
-- A write applies only when its key beats the key of the last write of that
-- member (keys are 2*rev+1 for writes, 2*rev for removals). A copy from an HPC
-- organization applies only while the link to it is in force.
-- An empty doc asks to keep the document held here, with the new count: that
-- applies only when the document held is of the same version (else the write
-- that carries the document of that version has yet to come, and will).
-- Returns, for the organization's own meetings and unless the write is stale,
-- the document held now and the EAP organizations linked to it now, which
-- need the same write: {doc, eap org, ...}.
local start_z, end_z, docs, meta, gone, links, eap = unpack(KEYS)
local base, org, m, key = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local start_ms, end_ms, series, source, doc = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local version = ARGV[11]
local own = source == org

if not own and tonumber(redis.call('HGET', links, source) or '0') <= 0 then
  return {}
end

local old_key, old_series, old_source, old_version, old_people = read_meta(meta, m)

if key > old_key and doc == '' then
  local held = old_version == version and redis.call('HGET', docs, m)
  if not held then return {} end
  doc = with_count(held, ARGV[12])
end

if key > old_key then
  if old_series ~= '' and old_series ~= series then
    redis.call('ZREM', base .. ':s:' .. old_series, m)
  end
  if old_source ~= '' and old_source ~= org and old_source ~= source then
    redis.call('SREM', base .. ':from:' .. old_source, m)
  end
  local old_start = tonumber(redis.call('ZSCORE', start_z, m))
  redis.call('ZADD', start_z, start_ms, m)
  redis.call('ZADD', end_z, end_ms, m)
  if series ~= '' then redis.call('ZADD', base .. ':s:' .. series, start_ms, m) end
  redis.call('HSET', docs, m, doc)
  redis.call('HSET', meta, m,
    table.concat({ARGV[4], series, source, version, ARGV[10]}, '|'))
  redis.call('ZREM', gone, m)
  if not own then redis.call('SADD', base .. ':from:' .. source, m) end
  set_people(base, m, start_ms, ARGV[10], old_people, old_start)
end

-- A stale write fans out to nobody: the write that beat it already did, and
-- an EAP organization linked since holds no tombstone to refuse it. An equal
-- key does fan out again, for a redelivered batch.
if not own or key < old_key then return {} end
local eaps = linked_eaps(eap)
table.insert(eaps, 1, redis.call('HGET', docs, m) or '')
return eaps
