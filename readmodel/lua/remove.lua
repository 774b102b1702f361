-- Take one meeting out of one organization's lists, atomic in its slot.
-- KEYS: start, end, doc, meta, gone, eap
-- ARGV: base, org, entry, key, now_ms, own ("1" when the meeting was this
--       organization's own, so its EAP copies must go too)
-- Leaves a tombstone (the key) in meta so that an older write cannot bring the
-- meeting back; a count register ahead of it stays. Returns the linked EAP
-- organizations when own and not stale.
local start_z, end_z, docs, meta, gone, eap = unpack(KEYS)
local base, org, entry, key, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]

local old_key, old_series, old_source, _, old_people, old_pkey, old_count = read_meta(meta, entry)
if key > old_key then
  unlist(base, org, entry, old_series, old_source, old_people)
  tombstone(meta, entry, key, old_people, old_pkey, old_count)
  redis.call('ZADD', gone, now, entry)
end

if ARGV[6] ~= '1' or key < old_key then return {} end
return linked_eaps(eap)
