--[[
  adjust-stock: a reconcile repair. Moves a sale's stock counter by a delta and sets its total
  to the database's, only if the counter exists and the total is still the one the caller read
  with the counter. A restock that reached the live sale in between changed the total, and the
  repair (computed without it) is not applied: the caller reconciles again.

  A lost counter stays lost until the sale is reloaded: recreating it from a delta would invent
  stock (the sale must fail closed).

  KEYS[1] stock
  KEYS[2] sale hash ("total" field)

  ARGV[1] delta to the counter (may be negative)
  ARGV[2] the total read together with the counter
  ARGV[3] the database's total, read with the stock the delta was computed from

  Returns the new counter, or false when the counter is missing or the total moved.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if tonumber(redis.call('HGET', KEYS[2], 'total')) ~= tonumber(ARGV[2]) then return false end
redis.call('HSET', KEYS[2], 'total', ARGV[3])
return redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
