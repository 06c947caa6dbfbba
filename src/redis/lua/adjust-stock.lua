--[[
  adjust-stock: move a sale's stock counter (restock, or a reconcile repair) only if the
  counter exists. A lost counter stays lost until the sale is reloaded: recreating it from a
  delta would invent stock (the sale must fail closed).

  KEYS[1] stock
  KEYS[2] sale hash

  ARGV[1] delta to the counter (may be negative)
  ARGV[2] delta to the sale's total ("total" field)

  Returns the new counter, or false when the counter is missing.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[2], 'total', tonumber(ARGV[2]))
return redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
