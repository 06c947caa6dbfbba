--[[
  sold-out: the gate's local flag says the sale is sold out, so it skips the buckets and the
  limit. The flag may be stale (a restock through another gate whose notice was missed), so
  the counter is read: only a counter at zero makes the refusal true. A repeat of an earlier
  request still gets its earlier answer (invariant I5, docs/invariants.md).

  KEYS[1] idempotency entry (src/idempotency/idempotency.lua)
  KEYS[2] stats hash
  KEYS[3] stock

  ARGV[1] request fingerprint (hex)
  ARGV[2] idempotency entry ttl, ms

  Returns (STATUS codes shared with place-order, src/redis/codes.ts):
  {KNOWN_KEY, ...}   the key's stored answer
  {KEY_REUSED}
  {SOLD_OUT}         stored
  {STOCK_MISSING}    the counter is lost: fail closed
  {STOCK_LEFT}       units are left after all: nothing stored, the gate runs place-order
]]
-- @include idempotency/idempotency.lua

local idem_key, stats_key, stock_key = KEYS[1], KEYS[2], KEYS[3]
local known = idempotency_known(idem_key, ARGV[1], stats_key)
if known then return known end
local stock = redis.call('GET', stock_key)
if not stock then return {STATUS.STOCK_MISSING} end
if tonumber(stock) > 0 then return {STATUS.STOCK_LEFT} end
redis.call('HINCRBY', stats_key, 'sold_out', 1)
return idempotency_refuse(idem_key, ARGV[1], tonumber(ARGV[2]), STATUS.SOLD_OUT)
