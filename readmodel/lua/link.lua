-- The EAP organization's side of an EAP link, atomic in its slot.
-- KEYS: start, end, doc, meta, gone, links
-- ARGV: base, org (the EAP organization), hpc org, version, linked ("1" or "0")
-- On unlink, every meeting copied from the HPC organization leaves the lists.
local start_z, end_z, docs, meta, gone, links = unpack(KEYS)
local base, org, hpc, version = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local linked = ARGV[5] == '1'

local current = tonumber(redis.call('HGET', links, hpc) or '0')
if version <= math.abs(current) then return 0 end
redis.call('HSET', links, hpc, linked and ARGV[4] or ('-' .. ARGV[4]))
if linked then return 1 end

local copied = base .. ':from:' .. hpc
for _, entry in ipairs(redis.call('SMEMBERS', copied)) do
  local _, series, source, _, people = read_meta(meta, entry)
  unlist(base, org, entry, series, source, people)
  redis.call('HDEL', meta, entry)
  redis.call('ZREM', gone, entry)
end
redis.call('DEL', copied)
return 1
