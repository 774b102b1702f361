-- Shared by the organization scripts (put, remove, prune, link, hpc), which
-- the store loads with this file prepended. ``base`` is an organization's key
-- prefix (hash tag {o<id>}); ``entry`` a meeting's entry in its lists (readmodel/keys.py).

-- What meta holds of entry ("key|series|source|version|people[|pkey|count]"):
-- - the content of the last write that brought entry's document or took it out:
--   its ordering key (2*rev+1 for a write, 2*rev for a removal), series,
--   source organization and the snapshot version of the document;
-- - the count register: the members who follow entry (registered or leading,
--   comma-separated), and registered_attendees, both as of the highest
--   revision any write of entry carried here, ``pkey`` (2*rev+1). It is ordered
--   apart from the content: a write without the document (a registration's)
--   still counts when the document of its version has yet to come, and the
--   document, when it comes, shows the count of the highest revision.
-- ``pkey`` and ``count`` are stored only when the register is ahead of the
-- content (else pkey is the content's key and the count is the document's).
-- A tombstone is "key||||", or "key||||people|pkey|count" while the register
-- is ahead of it. Returns key, series, source, version, people, pkey, count
-- (count nil when it is the document's).
local function read_meta(meta, entry)
  local raw = redis.call('HGET', meta, entry)
  if not raw then return 0, '', '', '', '', 0, nil end
  local f = {}
  for value in string.gmatch(raw .. '|', '([^|]*)|') do f[#f + 1] = value end
  local key = tonumber(f[1]) or 0
  return key, f[2], f[3], f[4], f[5], tonumber(f[6] or '') or key, f[7]
end

local function fmt(n) return string.format('%.0f', n) end

-- Record entry's content and register (see read_meta).
local function write_meta(meta, entry, key, series, source, version, people, pkey, count)
  local raw = table.concat({fmt(key), series, source, version, people}, '|')
  if pkey > key then raw = raw .. '|' .. fmt(pkey) .. '|' .. count end
  redis.call('HSET', meta, entry, raw)
end

-- Leave a tombstone of key; the register stays only while it is ahead.
local function tombstone(meta, entry, key, people, pkey, count)
  if pkey > key and count then
    write_meta(meta, entry, key, '', '', '', people, pkey, count)
  else
    redis.call('HSET', meta, entry, fmt(key) .. '||||')
  end
end

-- Where a stored document's registered_attendees begins: the byte that stands
-- for ',"registered_attendees":' (projector/documents.py); its digits follow.
-- JSON holds no raw control byte, so the first match is the field itself.
local COUNT_AT = '\12'

-- The document with its registered_attendees replaced.
local function with_count(doc, count)
  local at = string.find(doc, COUNT_AT, 1, true)
  local from = at + #COUNT_AT
  local to = string.find(doc, '[^0-9]', from)
  return string.sub(doc, 1, from - 1) .. count .. string.sub(doc, to)
end

-- The document's registered_attendees.
local function count_of(doc)
  local at = string.find(doc, COUNT_AT, 1, true)
  return string.match(doc, '^%d+', at + #COUNT_AT)
end

-- The EAP organizations linked now; with versions, each followed by the
-- version of its link (a copy is taken only under that same link).
local function linked_eaps(eap, with_versions)
  local linked = {}
  local entries = redis.call('HGETALL', eap)
  for i = 1, #entries, 2 do
    if tonumber(entries[i + 1]) > 0 then
      linked[#linked + 1] = entries[i]
      if with_versions then linked[#linked + 1] = entries[i + 1] end
    end
  end
  return linked
end

-- The members' lists: base:users holds, for each member (user id), the
-- meetings of the organization's list they follow (registered or leading),
-- comma-separated, in no order (read_member.lua sorts them by start).
local function follow(users, user, entry)
  local held = redis.call('HGET', users, user)
  if not held then
    redis.call('HSET', users, user, entry)
  elseif not string.find(',' .. held .. ',', ',' .. entry .. ',', 1, true) then
    redis.call('HSET', users, user, held .. ',' .. entry)
  end
end

local function unfollow(users, user, entry)
  local held = redis.call('HGET', users, user)
  if not held then return end
  local kept = {}
  for other in string.gmatch(held, '[^,]+') do
    if other ~= entry then kept[#kept + 1] = other end
  end
  if #kept == 0 then
    redis.call('HDEL', users, user)
  else
    redis.call('HSET', users, user, table.concat(kept, ','))
  end
end

-- The members who follow entry here (registered or leading, comma-separated):
-- entry is in each one's list, and in nobody else's. ``old`` are the followers of
-- the last write (meta), whose lists hold entry now: only the differences are
-- written.
local function set_people(base, entry, people, old)
  local users = base .. ':users'
  local gone = {}
  for user in string.gmatch(old, '[^,]+') do gone[user] = true end
  for user in string.gmatch(people, '[^,]+') do
    if not gone[user] then follow(users, user, entry) end
    gone[user] = nil
  end
  for user in pairs(gone) do unfollow(users, user, entry) end
end

-- Take entry out of every list of the organization (its meta stays as it is),
-- the lists of its followers ``people`` too.
local function unlist(base, org, entry, series, source, people)
  redis.call('ZREM', base .. ':start', entry)
  redis.call('ZREM', base .. ':end', entry)
  redis.call('HDEL', base .. ':doc', entry)
  if series ~= '' then redis.call('ZREM', base .. ':s:' .. series, entry) end
  if source ~= '' and source ~= org then redis.call('SREM', base .. ':from:' .. source, entry) end
  for user in string.gmatch(people, '[^,]+') do unfollow(base .. ':users', user, entry) end
end

