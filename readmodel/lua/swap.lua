-- Serve a rebuilt generation if it is still the one being built; atomic in
-- the control keys' slot ({control}).
-- KEYS: building, current, rebuild progress
-- ARGV: the generation to serve
-- Returns {1, the generation served before or ""}, or {0} when the generation
-- is no longer being built (the rebuild was aborted or another one began).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
local old = redis.call('GET', KEYS[2]) or ''
redis.call('SET', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[3])
return {1, old}
