--[[
  restock: bring a sale's live stock up to the database's total after a restock, once.

  The database records each restock with the sale's total right after it (the product's row
  lock serializes one sale's restocks, so that total orders them). The sale hash's `total` is
  the total whose units the live counter already holds. A restock adds the difference when its
  total is higher and nothing otherwise: a retry, a restock whose units a later one already
  brought, or one a reload already counted, adds nothing. The live part of a restock is thus
  keyed by its total, and can be run again safely after any partial failure.

  A lost counter stays lost until the sale is reloaded: recreating it from a delta would invent
  stock (the sale must fail closed).

  KEYS[1] stock
  KEYS[2] sale hash ("total" field)
  KEYS[3] queue hash    (src/queue/queue.lua): a sold-out sale's queue waited; restocked, it
          calls from now on, not for the time it stood still

  ARGV[1] the sale's total stock right after the restock, as the database recorded it

  Returns the counter after the call, or false when the counter or the sale hash is missing.
]]
local counter = redis.call('GET', KEYS[1])
local total = redis.call('HGET', KEYS[2], 'total')
if not counter or not total then return false end
local target = tonumber(ARGV[1])
local behind = target - tonumber(total)
if behind <= 0 then return tonumber(counter) end
redis.call('HSET', KEYS[2], 'total', target)
if tonumber(counter) <= 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[3], 'ts_ms', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
return redis.call('INCRBY', KEYS[1], behind)
