--[[
  release-order: undo a reservation whose publish certainly failed, atomically: stock back,
  customer total back, idempotency entry removed (the client may retry with the same key),
  outbox entry removed. Does nothing unless the entry is still this order's RESERVED entry,
  so a late or repeated release can never return stock for an order that may exist.

  KEYS[1] stock
  KEYS[2] customer bought
  KEYS[3] idempotency entry (src/idempotency/idempotency.lua)
  KEYS[4] outbox stream
  KEYS[5] stats hash

  ARGV[1] order id
  ARGV[2] quantity
  ARGV[3] outbox entry id

  Returns 1 when released, 0 when there was nothing of this order to release.
]]
-- @include idempotency/idempotency.lua

local stock_key, bought_key, idem_key, outbox_key, stats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local order_id, quantity, entry = ARGV[1], tonumber(ARGV[2]), ARGV[3]

if not idempotency_in_flight(idem_key, order_id) then return 0 end
if redis.call('XDEL', outbox_key, entry) == 0 then return 0 end
redis.call('INCRBY', stock_key, quantity)
redis.call('DECRBY', bought_key, quantity)
redis.call('DEL', idem_key)
redis.call('HINCRBY', stats_key, 'accepted', -1)
redis.call('HINCRBY', stats_key, 'accepted_units', -quantity)
return 1
