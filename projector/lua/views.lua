-- Shared by the organization scripts (put, remove, prune, link, hpc), which
-- the store loads with this file prepended. ``base`` is an organization's key
-- prefix (hash tag {o<id>}); ``m`` a meeting's sorted-set member.

-- The last write of m: its ordering key, series, source organization, the
-- snapshot version of its document and the members who follow m here
-- ("key|series|source|version|people"; a tombstone is "key||||").
local function read_meta(meta, m)
  local raw = redis.call('HGET', meta, m)
  if not raw then return 0, '', '', '', '' end
  local key, series, source, version, people =
    string.match(raw, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  return tonumber(key) or 0, series, source, version, people
end

local function tombstone(meta, m, key)
  redis.call('HSET', meta, m, string.format('%.0f', key) .. '||||')
end

local COUNT_AT = ',"registered_attendees":'

-- The document with its registered_attendees replaced. JSON escapes every
-- quote inside a string, so the first match is the field itself.
local function with_count(doc, count)
  local at = string.find(doc, COUNT_AT, 1, true)
  local from = at + #COUNT_AT
  local to = string.find(doc, '[^0-9]', from)
  return string.sub(doc, 1, from - 1) .. count .. string.sub(doc, to)
end

local function linked_eaps(eap)
  local linked = {}
  local entries = redis.call('HGETALL', eap)
  for i = 1, #entries, 2 do
    if tonumber(entries[i + 1]) > 0 then linked[#linked + 1] = entries[i] end
  end
  return linked
end

-- The members who follow m here (registered or leading, comma-separated):
-- m is in each one's list (base:u:<user>, by start), and in nobody else's.
-- ``old`` are the followers of the last write (meta), in those lists now at
-- the start ``old_start``. Only the differences are written, unless the start
-- moved.
local function set_people(base, m, start_ms, people, old, old_start)
  local moved = tonumber(start_ms) ~= old_start
  local gone = {}
  for user in string.gmatch(old, '[^,]+') do gone[user] = true end
  for user in string.gmatch(people, '[^,]+') do
    if moved or not gone[user] then redis.call('ZADD', base .. ':u:' .. user, start_ms, m) end
    gone[user] = nil
  end
  for user in pairs(gone) do redis.call('ZREM', base .. ':u:' .. user, m) end
end

-- Take m out of every list of the organization (its meta stays as it is),
-- the lists of its followers ``people`` too.
local function unlist(base, org, m, series, source, people)
  redis.call('ZREM', base .. ':start', m)
  redis.call('ZREM', base .. ':end', m)
  redis.call('HDEL', base .. ':doc', m)
  if series ~= '' then redis.call('ZREM', base .. ':s:' .. series, m) end
  if source ~= '' and source ~= org then redis.call('SREM', base .. ':from:' .. source, m) end
  for user in string.gmatch(people, '[^,]+') do redis.call('ZREM', base .. ':u:' .. user, m) end
end

