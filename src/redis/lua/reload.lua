--[[
  include: the steps every reload script shares. A reload writes only while the sale is not
  whole (settings with their total, and a counter), so gates never sell from a half-written
  load: a sale that is not whole admits no order.
]]

-- True when the sale's settings (with their total) and its counter are both present.
local function reload_sale_whole(sale_key, stock_key)
  return redis.call('HEXISTS', sale_key, 'total') == 1 and redis.call('EXISTS', stock_key) == 1
end

-- Sets each customer's count: KEYS[first_key..] with ARGV[first_arg..], 0 deleting the key.
local function reload_set_holdings(first_key, first_arg)
  for i = first_key, #KEYS do
    local units = ARGV[first_arg + i - first_key]
    if tonumber(units) > 0 then
      redis.call('SET', KEYS[i], units)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
