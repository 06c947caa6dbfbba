--[[
  complete-order: the broker acknowledged the order's event. Mark the idempotency entry
  COMPLETED (replays now get the stored answer) and drop the outbox entry. Safe to repeat, and
  safe after the entry expired: the outbox entry is dropped either way.

  KEYS[1] idempotency entry
  KEYS[2] outbox stream

  ARGV[1] order id
  ARGV[2] outbox entry id

  Returns 1 when the entry moved to COMPLETED, 0 otherwise.
]]
local idem_key, outbox_key = KEYS[1], KEYS[2]
local order_id, entry = ARGV[1], ARGV[2]

redis.call('XDEL', outbox_key, entry)
local known = redis.call('HMGET', idem_key, 'order_id', 'state')
if known[1] ~= order_id or known[2] ~= 'RESERVED' then return 0 end
redis.call('HSET', idem_key, 'state', 'COMPLETED')
return 1
