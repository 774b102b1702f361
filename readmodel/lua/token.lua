-- API token state; revocation is terminal for a hash.
-- KEYS[1]: the token's global record (org -> "1", "!" -> "1" once revoked)
--          or an organization's token hash (sha -> "1" issued, "0" revoked)
-- ARGV: op, then
--   issue   org   (global)  -> "1" if the token stands, "0" if revoked
--   revoke  org   (global)  -> every organization it was issued to
--   grant   sha   (org)     issued, unless revoked
--   deny    sha   (org)     revoked
local key, op = KEYS[1], ARGV[1]
if op == 'issue' then
  if redis.call('HEXISTS', key, '!') == 1 then return '0' end
  redis.call('HSET', key, ARGV[2], '1')
  return '1'
elseif op == 'revoke' then
  redis.call('HSET', key, '!', '1')
  local orgs = {ARGV[2]}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if field ~= '!' and field ~= ARGV[2] then orgs[#orgs + 1] = field end
  end
  return orgs
elseif op == 'grant' then
  if redis.call('HGET', key, ARGV[2]) ~= '0' then redis.call('HSET', key, ARGV[2], '1') end
  return 1
elseif op == 'deny' then
  redis.call('HSET', key, ARGV[2], '0')
  return 1
end
return redis.error_reply('unknown op ' .. tostring(op))
