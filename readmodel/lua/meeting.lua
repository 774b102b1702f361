-- One meeting's transitions, atomic in its hash slot {m<id>}.
-- KEYS: state, one hash holding the meeting's snapshot fields (v, org, was,
--       sid, st, en, lead, fp, rev, mv, term) and its registrations (registration
--       id -> user id, "x" once canceled; a user may hold several). It keeps no
--       document: the organizations' lists hold it (see put.lua); small fields
--       keep the hash a compact listpack.
-- ARGV: now_ms, ended_retention_ms, tombstone_retention_ms,
--       pending_retention_ms, grace_ms, then one or more changes, applied in
--       order, each an op and its arguments:
--   place  version org series start_ms end_ms leaders(csv) fingerprint (of the
--          rendered snapshot: which one of a batch's is the one applied)
--   end
--   reg    registration_id user_id
--   unreg  registration_id
-- (All of one meeting's changes in a batch go in one call: each is applied
-- exactly as on its own, and raises the revision when it changes the state.)
-- Returns the meeting's whole current projection after the last change,
-- changed or not, so that a redelivered event re-emits it:
--   {rev, listed, org, series, start, end, registered_attendees, was, people, version,
--    fingerprint, moved}
-- where people are the members registered (active) or leading, comma-separated,
-- and moved is the revision at which the meeting came to its organization (mv).
-- The former organizations (was) lost it then, and only then: removals from
-- them (and from their EAP organizations' copies) are ordered by moved, not by
-- rev, so a later change written without the document (a registration) never
-- outranks the write of the move, which brings it.
local state = KEYS[1]
local now = tonumber(ARGV[1])
local ended_retention, tombstone_retention = tonumber(ARGV[2]), tonumber(ARGV[3])
local pending_retention, grace = tonumber(ARGV[4]), tonumber(ARGV[5])

local function fmt(n) return string.format('%.0f', n) end

local function csv_without(list, item)
  local out = {}
  for value in string.gmatch(list, '[^,]+') do
    if value ~= item then out[#out + 1] = value end
  end
  return table.concat(out, ',')
end

local s = redis.call('HMGET', state, 'v', 'term', 'rev', 'org', 'was', 'en', 'mv')
local version, ended, rev = tonumber(s[1]) or 0, s[2] == '1', tonumber(s[3]) or 0
local org, was, end_ms = s[4], s[5] or '', tonumber(s[6])
local moved = tonumber(s[7])  -- nil in a state written before mv was kept: rev stands for it
local revised = false

-- A registration's field is its id, digits; the other fields are names.
local function is_registration(field) return string.match(field, '^%d+$') ~= nil end

local function registration_fields()
  local out = {}
  for _, field in ipairs(redis.call('HKEYS', state)) do
    if is_registration(field) then out[#out + 1] = field end
  end
  return out
end

-- Apply the change whose op is ARGV[i]; returns whether it changed the state,
-- the index of the next change, and whether it moved the meeting to another
-- organization.
local function apply(i)
  local op = ARGV[i]
  if op == 'place' then
    if not ended and tonumber(ARGV[i + 1]) > version then
      local new_org = ARGV[i + 2]
      local moves = org ~= new_org
      if org and moves then was = csv_without(was, org) .. ',' .. org end
      was = csv_without(was, new_org)  -- also drops the empty entry of ',' .. org
      org, end_ms = new_org, tonumber(ARGV[i + 5])
      version = tonumber(ARGV[i + 1])
      redis.call('HSET', state, 'v', ARGV[i + 1], 'org', org, 'was', was, 'sid', ARGV[i + 3],
        'st', ARGV[i + 4], 'en', ARGV[i + 5], 'lead', ARGV[i + 6], 'fp', ARGV[i + 7])
      return true, i + 8, moves
    end
    return false, i + 8
  elseif op == 'end' then
    if not ended then
      ended = true
      local fields = registration_fields()
      fields[#fields + 1], fields[#fields + 2], fields[#fields + 3] = 'lead', 'sid', 'st'
      fields[#fields + 1], fields[#fields + 2] = 'fp', 'mv'  -- an ended meeting leaves at rev
      redis.call('HDEL', state, unpack(fields))
      redis.call('HSET', state, 'term', '1')
      return true, i + 1
    end
    return false, i + 1
  elseif op == 'reg' then
    if not ended and not redis.call('HGET', state, ARGV[i + 1]) then
      redis.call('HSET', state, ARGV[i + 1], ARGV[i + 2])
      return true, i + 3
    end
    return false, i + 3
  elseif op == 'unreg' then
    if not ended and redis.call('HGET', state, ARGV[i + 1]) ~= 'x' then
      redis.call('HSET', state, ARGV[i + 1], 'x')
      return true, i + 2
    end
    return false, i + 2
  end
  return error('unknown op ' .. tostring(op))
end

local i = 6
while i <= #ARGV do
  local changed, moves
  changed, i, moves = apply(i)
  if changed then
    -- Strictly increasing, and still above every earlier revision when the
    -- state expired and comes back: revisions order writes to the lists.
    rev = math.max(rev + 1, now * 1000)
    revised = true
    if moves then moved = rev end
  end
end
if revised then
  if moved and not ended then
    redis.call('HSET', state, 'rev', fmt(rev), 'mv', fmt(moved))
  else
    redis.call('HSET', state, 'rev', fmt(rev))
  end
end
moved = moved or rev

-- Bounded memory: the meeting's state expires as a whole.
local deadline
if ended then
  deadline = math.max(now, end_ms or 0) + tombstone_retention
elseif org then
  deadline = math.max(end_ms + ended_retention, now + grace)
else
  deadline = now + pending_retention
end
redis.call('PEXPIREAT', state, fmt(deadline))
if ended or not org then
  return {fmt(rev), 0, org or '', '', '', '', '', was, '', fmt(version), '', fmt(moved)}
end
-- The snapshot's fields, and the users with an active registration, each once.
local m, people, registered = {}, {}, {}
local fields = redis.call('HGETALL', state)
for k = 1, #fields, 2 do
  local field, value = fields[k], fields[k + 1]
  if not is_registration(field) then
    m[field] = value
  elseif value ~= 'x' and not registered[value] then
    people[#people + 1] = value
    registered[value] = true
  end
end
local attendees = #people
for leader in string.gmatch(m.lead, '[^,]+') do
  if registered[leader] then
    attendees = attendees - 1
  else
    people[#people + 1] = leader
  end
end
return {fmt(rev), 1, org, m.sid, m.st, m.en, attendees, was, table.concat(people, ','),
  fmt(version), m.fp or '', fmt(moved)}
