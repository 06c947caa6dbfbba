--[[
  sold-out: the gate's local flag says the sale is sold out, so it refuses without touching
  stock or buckets. A repeat of an earlier request must still get its earlier answer
  (invariant I5), so the idempotency entry is read first; a new request is refused SOLD_OUT
  and that refusal stored, exactly as place-order would.

  KEYS[1] idempotency entry
  KEYS[2] stats hash

  ARGV[1] request fingerprint (hex)
  ARGV[2] idempotency entry ttl, ms

  Returns (codes shared with place-order, src/redis/codes.ts):
  {1, state, answer}  KNOWN_KEY
  {2}                 KEY_REUSED
  {9, 0}              SOLD_OUT
]]
local idem_key, stats_key = KEYS[1], KEYS[2]
local known = redis.call('HMGET', idem_key, 'fp', 'state', 'answer')
if known[1] then
  if known[1] ~= ARGV[1] then return {2} end
  redis.call('HINCRBY', stats_key, 'replays', 1)
  return {1, known[2], known[3]}
end
redis.call('HSET', idem_key, 'fp', ARGV[1], 'state', 'REFUSED', 'answer', '{"reason":"SOLD_OUT"}')
redis.call('PEXPIRE', idem_key, tonumber(ARGV[2]))
redis.call('HINCRBY', stats_key, 'sold_out', 1)
return {9, 0}
