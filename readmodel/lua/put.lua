-- Write one meeting into one organization's lists, atomic in its slot {o<id>}.
-- KEYS: start, end, doc, meta, gone, links, eap
-- ARGV: base, org, entry, key (of the content), pkey (of the count register),
--       start_ms, end_ms, series, source org, doc, people (the members
--       registered or leading, comma-separated), version (of the meeting's
--       snapshot), registered_attendees, now_ms, link (for a copy: the
--       version of the link it is made under, as the owner holds it)
-- A write of the organization's own meeting carries key = pkey = 2*rev+1; a
-- copy into a linked EAP organization carries the owner's two keys as the
-- owner holds them. Removals leave 2*rev (see read_meta in list_entries.lua).
-- - The count register (people, registered_attendees) takes the write when
--   pkey beats the register's key, whether or not the document is here.
-- - The content (document, start, end, series, source, version) takes it
--   when key beats the content's key and the write brings the document, or
--   when the document held is of the write's version (an empty doc: a write
--   of a batch without the snapshot). An empty doc never brings back a
--   document that is not here: the write of its snapshot will.
-- - Whenever either changes while the document is here, the document is
--   rendered again with the register's count, and the followers' lists
--   follow the register's people.
-- A copy from an HPC organization applies only while the link to it is in
-- force. Returns, for the organization's own meetings when the document is
-- here and the write is not stale, the meeting as held now and the EAP
-- organizations linked to it now, which need the same write:
-- {key, pkey, start, end, series, doc, people, version, count,
--  eap org, its link's version, ...}.
local start_z, end_z, docs, meta, gone, links, eap = unpack(KEYS)
local base, org, entry = ARGV[1], ARGV[2], ARGV[3]
local key, pkey = tonumber(ARGV[4]), tonumber(ARGV[5])
local start_ms, end_ms, series, source, doc = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local people, version, count = ARGV[11], ARGV[12], ARGV[13]
local own = source == org

-- A copy is taken only under the link it was made under: one held back while
-- the link was undone and made again may be of a meeting removed meanwhile,
-- whose removal this organization, unlinked then, kept no tombstone of (the
-- new link's own copies bring whatever the owner holds since).
if not own and tonumber(redis.call('HGET', links, source) or '0') ~= tonumber(ARGV[15]) then
  return {}
end

local old_key, old_series, old_source, old_version, old_people, old_pkey, old_count =
  read_meta(meta, entry)
local old_start = tonumber(redis.call('ZSCORE', start_z, entry))
local listed = old_start ~= nil

local content = key > old_key and (doc ~= '' or (listed and version == old_version))
local register = pkey > old_pkey

local new_key, new_series, new_source, new_version = old_key, old_series, old_source, old_version
local new_pkey, new_people, new_count = old_pkey, old_people, old_count
if content then
  new_key, new_series, new_source, new_version = key, series, source, version
end
if register then new_pkey, new_people, new_count = pkey, people, count end

if content then
  if doc == '' then doc = redis.call('HGET', docs, entry) end
  if old_series ~= '' and old_series ~= series then
    redis.call('ZREM', base .. ':s:' .. old_series, entry)
  end
  if old_source ~= '' and old_source ~= org and old_source ~= source then
    redis.call('SREM', base .. ':from:' .. old_source, entry)
  end
  redis.call('ZADD', start_z, start_ms, entry)
  redis.call('ZADD', end_z, end_ms, entry)
  if series ~= '' then redis.call('ZADD', base .. ':s:' .. series, start_ms, entry) end
  redis.call('ZREM', gone, entry)
  if not own then redis.call('SADD', base .. ':from:' .. source, entry) end
elseif listed then
  doc = redis.call('HGET', docs, entry)
  start_ms = old_start
end
listed = content or listed
if new_count == nil and listed then new_count = count_of(doc) end

if content or register then
  if listed then
    -- The document shows the register's count; the followers' lists, its people.
    doc = with_count(doc, new_count)
    redis.call('HSET', docs, entry, doc)
    set_people(base, entry, new_people, (old_start and old_people) or '')
  elseif old_key == 0 then
    -- A register without any document yet: pruned like a tombstone unless the
    -- document comes.
    redis.call('ZADD', gone, 'NX', ARGV[14], entry)
  end
  write_meta(meta, entry, new_key, new_series, new_source, new_version, new_people, new_pkey,
    new_count or '')
end

-- A stale write fans out to nobody: the write that beat it already did, and
-- an EAP organization linked since holds no tombstone to refuse it. An equal
-- key does fan out again, for a redelivered batch.
if not own or not listed then return {} end
if not (content or register) and math.max(key, pkey) < math.max(old_key, old_pkey) then
  return {}
end
local eaps = linked_eaps(eap, true)
local out = {fmt(new_key), fmt(new_pkey), fmt(start_ms), end_ms, new_series, doc,
  new_people, new_version, new_count}
if not content then out[4] = redis.call('ZSCORE', end_z, entry) end
for _, e in ipairs(eaps) do out[#out + 1] = e end
return out
