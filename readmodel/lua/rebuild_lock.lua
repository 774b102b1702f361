-- The rebuild lock (projector/commands/rebuild_lock.py). KEYS[1]: the lock.
-- Its value: "<token>|<host>|<pid>|<since ms>|<renewed ms>".
-- ARGV: op, the value to set, the time to live in ms, then
--   renew   token      set it if the lock is still this token's  -> 1, or 0
--   take    old value  set it if the lock still holds old value  -> 1, or 0
local op, value, ttl = ARGV[1], ARGV[2], ARGV[3]
local held = redis.call('GET', KEYS[1])
if op == 'renew' then
  local token = ARGV[4] .. '|'
  if not held or string.sub(held, 1, #token) ~= token then return 0 end
elseif op == 'take' then
  if held ~= ARGV[4] then return 0 end
else
  return redis.error_reply('unknown op ' .. tostring(op))
end
redis.call('SET', KEYS[1], value, 'PX', ttl)
return 1
