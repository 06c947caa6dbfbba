--[[
  reload-sale: load a sale whose live data was lost (its settings or its counter) in one atomic
  step: settings, stock counter, accepted units and every customer's holding (the per-customer
  limit's count). The caller computes the load from the database and the outbox; it is written
  only if the sale is still not whole and the outbox still holds exactly the entries the load
  was computed from. No entry is added while the counter is missing (place-order fails closed);
  an entry gone since was published meanwhile, and the load must be computed again.

  Every key carries the sale's hash tag (one Redis Cluster slot). The index of skus does not:
  the caller adds the sku to it apart.

  KEYS[1] sale hash
  KEYS[2] stock
  KEYS[3] stats hash
  KEYS[4] outbox stream
  KEYS[5] accepted keys: dropped, since the load does not know every accepted key (a gate
          then refuses the sold-out sale through sold-out.lua, not at the edge)
  KEYS[6..n+5] customer bought, one per customer to set (a sale with many customers sends the
               others first, with restore-holdings)

  ARGV[1] settings: JSON array of field, value, field, value... of the sale hash (all strings)
  ARGV[2] units left
  ARGV[3] accepted units (baseline for reconcile)
  ARGV[4] JSON array of the outbox entry ids the load was computed from, oldest first
  ARGV[5..n+4] units the customer of KEYS[i+1] holds (0 deletes the count)

  Returns 0 loaded, 1 the sale was whole already (settings with a total, and a counter: nothing
  written), 2 the outbox moved (nothing written).
]]
-- @include redis/lua/reload.lua

local sale_key, stock_key, stats_key, outbox_key, accepted_keys = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

-- Whole means settings with their total (a settings write racing the loss can leave a hash
-- without one) and a counter.
if reload_sale_whole(sale_key, stock_key) then return 1 end

local expected = cjson.decode(ARGV[4])
local entries = redis.call('XRANGE', outbox_key, '-', '+')
if #entries ~= #expected then return 2 end
for i, entry in ipairs(entries) do
  if entry[1] ~= expected[i] then return 2 end
end

redis.call('HSET', sale_key, unpack(cjson.decode(ARGV[1])))
redis.call('SET', stock_key, ARGV[2])
redis.call('HSET', stats_key, 'accepted_units', ARGV[3])
redis.call('DEL', accepted_keys)
reload_set_holdings(6, 5)
return 0
