-- Shared by the organization scripts (put, remove, prune, link, hpc), which
-- the store loads with this file prepended. ``base`` is an organization's key
-- prefix (hash tag {o<id>}); ``m`` a meeting's sorted-set member.

-- The ordering key, series and source organization of the last write of m.
local function read_meta(meta, m)
  local raw = redis.call('HGET', meta, m)
  if not raw then return 0, '', '' end
  local key, series, source = string.match(raw, '^([^|]*)|([^|]*)|([^|]*)$')
  return tonumber(key) or 0, series, source
end

local function linked_eaps(eap)
  local linked = {}
  local entries = redis.call('HGETALL', eap)
  for i = 1, #entries, 2 do
    if tonumber(entries[i + 1]) > 0 then linked[#linked + 1] = entries[i] end
  end
  return linked
end

-- The members who follow m here (registered or leading; "" for nobody): m is
-- in each one's list (base:u:<user>, by start), and in nobody else's.
local function set_people(base, m, start_ms, people)
  local people_key = base .. ':p:' .. m
  local keep, users = {}, {}
  for user in string.gmatch(people, '[^,]+') do
    keep[user] = true
    users[#users + 1] = user
    redis.call('ZADD', base .. ':u:' .. user, start_ms, m)
  end
  for _, user in ipairs(redis.call('SMEMBERS', people_key)) do
    if not keep[user] then redis.call('ZREM', base .. ':u:' .. user, m) end
  end
  redis.call('DEL', people_key)
  for i = 1, #users, 1000 do
    redis.call('SADD', people_key, unpack(users, i, math.min(i + 999, #users)))
  end
end

-- Take m out of every list of the organization (its meta stays as it is).
local function unlist(base, org, m, series, source)
  redis.call('ZREM', base .. ':start', m)
  redis.call('ZREM', base .. ':end', m)
  redis.call('HDEL', base .. ':doc', m)
  if series ~= '' then redis.call('ZREM', base .. ':s:' .. series, m) end
  if source ~= '' and source ~= org then redis.call('SREM', base .. ':from:' .. source, m) end
  set_people(base, m, 0, '')
end

