-- One meeting's transition, atomic in its hash slot {m<id>}.
-- KEYS: state (hash), regs (registration id -> user id, "x" once canceled),
--       users (user id -> active registrations)
-- ARGV: op, now_ms, ended_retention_ms, tombstone_retention_ms,
--       pending_retention_ms, grace_ms, then the op's arguments:
--   place  version org series start_ms end_ms leaders(csv) head tail
--   end
--   reg    registration_id user_id
--   unreg  registration_id
-- Returns the meeting's whole current projection, changed or not, so that a
-- redelivered event re-emits it:
--   {rev, listed, org, series, start, end, doc, was, people}
-- where people are the members registered (active) or leading, comma-separated.
local state, regs, users = KEYS[1], KEYS[2], KEYS[3]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local ended_retention, tombstone_retention = tonumber(ARGV[3]), tonumber(ARGV[4])
local pending_retention, grace = tonumber(ARGV[5]), tonumber(ARGV[6])

local function fmt(n) return string.format('%.0f', n) end

local function csv_without(list, item)
  local out = {}
  for value in string.gmatch(list, '[^,]+') do
    if value ~= item then out[#out + 1] = value end
  end
  return table.concat(out, ',')
end

local s = redis.call('HMGET', state, 'v', 'term', 'rev', 'org', 'was', 'en')
local version, ended, rev = tonumber(s[1]) or 0, s[2] == '1', tonumber(s[3]) or 0
local org, was, end_ms = s[4], s[5] or '', tonumber(s[6])
local changed = false

if op == 'place' then
  if not ended and tonumber(ARGV[7]) > version then
    local new_org = ARGV[8]
    if org and org ~= new_org then was = csv_without(was, org) .. ',' .. org end
    was = csv_without(was, new_org)  -- also drops the empty entry of ',' .. org
    org, end_ms = new_org, tonumber(ARGV[11])
    redis.call('HSET', state, 'v', ARGV[7], 'org', org, 'was', was, 'sid', ARGV[9],
      'st', ARGV[10], 'en', ARGV[11], 'lead', ARGV[12], 'head', ARGV[13], 'tail', ARGV[14])
    changed = true
  end
elseif op == 'end' then
  if not ended then
    ended = true
    redis.call('DEL', regs, users)
    redis.call('HDEL', state, 'head', 'tail', 'lead', 'sid', 'st')
    redis.call('HSET', state, 'term', '1')
    changed = true
  end
elseif op == 'reg' then
  if not ended and not redis.call('HGET', regs, ARGV[7]) then
    redis.call('HSET', regs, ARGV[7], ARGV[8])
    redis.call('HINCRBY', users, ARGV[8], 1)
    changed = true
  end
elseif op == 'unreg' then
  local user = redis.call('HGET', regs, ARGV[7])
  if not ended and user ~= 'x' then
    redis.call('HSET', regs, ARGV[7], 'x')
    if user and redis.call('HINCRBY', users, user, -1) <= 0 then
      redis.call('HDEL', users, user)
    end
    changed = true
  end
else
  return redis.error_reply('unknown op ' .. tostring(op))
end

if changed then
  -- Strictly increasing, and still above every earlier revision when the
  -- state expired and comes back: revisions order writes to the lists.
  rev = math.max(rev + 1, now * 1000)
  redis.call('HSET', state, 'rev', fmt(rev))
end

-- Bounded memory: every key of the meeting expires together.
local deadline
if ended then
  deadline = math.max(now, end_ms or 0) + tombstone_retention
elseif org then
  deadline = math.max(end_ms + ended_retention, now + grace)
else
  deadline = now + pending_retention
end
for _, key in ipairs(KEYS) do redis.call('PEXPIREAT', key, fmt(deadline)) end

if ended or not org then
  return {fmt(rev), 0, org or '', '', '', '', '', was, ''}
end
local m = redis.call('HMGET', state, 'sid', 'st', 'en', 'lead', 'head', 'tail')
local people = redis.call('HKEYS', users)
local registered = #people
for leader in string.gmatch(m[4], '[^,]+') do
  if redis.call('HEXISTS', users, leader) == 1 then
    registered = registered - 1
  else
    people[#people + 1] = leader
  end
end
return {fmt(rev), 1, org, m[1], m[2], m[3], m[5] .. registered .. m[6], was,
  table.concat(people, ',')}
