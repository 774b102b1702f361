-- The HPC organization's side of an EAP link, atomic in its slot.
-- KEYS: start, end, doc, meta, eap
-- ARGV: org (the HPC organization), eap org, version, linked ("1" or "0")
-- While the link is in force, returns this organization's own meetings for
-- the EAP organization to copy: {member, key, start, end, series, doc, ...}.
local start_z, end_z, docs, meta, eap = unpack(KEYS)
local org, eap_org, version, linked = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'

local current = tonumber(redis.call('HGET', eap, eap_org) or '0')
if version > math.abs(current) then
  current = linked and version or -version
  redis.call('HSET', eap, eap_org, string.format('%.0f', current))
end
if current <= 0 then return {} end

local out = {}
local listed = redis.call('ZRANGE', start_z, 0, -1, 'WITHSCORES')
for i = 1, #listed, 2 do
  local m = listed[i]
  local key, series, source = string.match(redis.call('HGET', meta, m) or '', '^([^|]*)|([^|]*)|([^|]*)$')
  if source == org then
    local n = #out
    out[n + 1], out[n + 2], out[n + 3] = m, key, listed[i + 1]
    out[n + 4], out[n + 5] = redis.call('ZSCORE', end_z, m), series
    out[n + 6] = redis.call('HGET', docs, m)
  end
end
return out
