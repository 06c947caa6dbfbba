--[[
  restore-holdings: one chunk of a reload's per-customer counts (the per-customer limit), for a
  sale with more customers than one reload-sale call carries; reload-sale, with the last chunk,
  ends the reload. Written only while the sale is not whole, so no order is admitted against a
  half-restored set of counts.

  KEYS[1] sale hash
  KEYS[2] stock
  KEYS[3..n+2] customer bought, one per customer to set

  ARGV[1..n] units the customer of KEYS[i+2] holds (0 deletes the count)

  Returns 0 written, 1 the sale was whole already (nothing written).
]]
-- @include redis/lua/reload.lua

if reload_sale_whole(KEYS[1], KEYS[2]) then return 1 end
reload_set_holdings(3, 1)
return 0
