--[[
  complete-orders: the broker acknowledged a batch of one sale's orders. For each, mark the
  idempotency entry COMPLETED (replays now get the stored answer) and drop the outbox entry.
  One call per sale per batch, not per order. Safe to repeat, and safe after an entry expired:
  the outbox entry is dropped either way.

  KEYS[1]       outbox stream
  KEYS[2..n+1]  idempotency entry of order i (n orders)

  ARGV[1..n]    order id of order i
  ARGV[n+1..2n] outbox entry id of order i

  Returns the number of entries that moved to COMPLETED.
]]
-- @include idempotency/idempotency.lua

local outbox_key = KEYS[1]
local n = #KEYS - 1
local completed = 0
for i = 1, n do
  redis.call('XDEL', outbox_key, ARGV[n + i])
  if idempotency_complete(KEYS[i + 1], ARGV[i]) then completed = completed + 1 end
end
return completed
