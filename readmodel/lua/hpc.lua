-- The HPC organization's side of an EAP link, atomic in its slot.
-- KEYS: start, end, doc, meta, eap
-- ARGV: base, org (the HPC organization), eap org, version, linked ("1" or "0")
-- While the link is in force, returns this organization's own meetings for
-- the EAP organization to copy:
-- {entry, key, pkey, start, end, series, doc, people, version, count, ...}
-- (see read_meta in list_entries.lua).
local start_z, end_z, docs, meta, eap = unpack(KEYS)
local base, org, eap_org = ARGV[1], ARGV[2], ARGV[3]
local version, linked = tonumber(ARGV[4]), ARGV[5] == '1'

local current = tonumber(redis.call('HGET', eap, eap_org) or '0')
-- An older event changes nothing and has nothing to copy; an equal one may be
-- a redelivery whose copies were cut short, so it copies again.
if version < math.abs(current) then return {} end
if version > math.abs(current) then
  current = linked and version or -version
  redis.call('HSET', eap, eap_org, string.format('%.0f', current))
end
if current <= 0 then return {} end

local out = {}
local listed = redis.call('ZRANGE', start_z, 0, -1, 'WITHSCORES')
for i = 1, #listed, 2 do
  local entry = listed[i]
  local key, series, source, snapshot, people, pkey, count = read_meta(meta, entry)
  if source == org then
    local doc = redis.call('HGET', docs, entry)
    local n = #out
    out[n + 1], out[n + 2], out[n + 3], out[n + 4] = entry, fmt(key), fmt(pkey), listed[i + 1]
    out[n + 5], out[n + 6] = redis.call('ZSCORE', end_z, entry), series
    out[n + 7], out[n + 8], out[n + 9] = doc, people, snapshot
    out[n + 10] = count or count_of(doc)
  end
end
return out
