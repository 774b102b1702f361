-- One failed authentication of a client; past the limit, block the client.
-- KEYS: the client's failure counter, the blocked sorted set (client -> until ms)
-- ARGV: window_ms, limit, block_ms, now_ms, channel, client
-- Returns 0, or the instant (ms) the new block ends (also published on the channel).
local window, limit, block = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now, channel, client = tonumber(ARGV[4]), ARGV[5], ARGV[6]

local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('PEXPIRE', KEYS[1], window) end
if failures < limit then return 0 end

local ends = now + block
redis.call('DEL', KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], ends, client)
redis.call('PUBLISH', channel, client .. ' ' .. string.format('%d', ends))
return ends
