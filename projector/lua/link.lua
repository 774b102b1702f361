-- The EAP organization's side of an EAP link, atomic in its slot.
-- KEYS: start, end, doc, meta, gone, links
-- ARGV: base, hpc org, version, linked ("1" or "0")
-- On unlink, every meeting copied from the HPC organization leaves the lists.
local start_z, end_z, docs, meta, gone, links = unpack(KEYS)
local base, hpc, version, linked = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'

local current = tonumber(redis.call('HGET', links, hpc) or '0')
if version <= math.abs(current) then return 0 end
redis.call('HSET', links, hpc, linked and ARGV[3] or ('-' .. ARGV[3]))
if linked then return 1 end

local copied = base .. ':from:' .. hpc
for _, m in ipairs(redis.call('SMEMBERS', copied)) do
  local old = redis.call('HGET', meta, m)
  local series = old and string.match(old, '^[^|]*|([^|]*)|') or ''
  if series ~= '' then redis.call('ZREM', base .. ':s:' .. series, m) end
  redis.call('ZREM', start_z, m)
  redis.call('ZREM', end_z, m)
  redis.call('ZREM', gone, m)
  redis.call('HDEL', docs, m)
  redis.call('HDEL', meta, m)
end
redis.call('DEL', copied)
return 1
