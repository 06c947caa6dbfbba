--[[
  take-tickets: a gate takes a block of queue positions for the tickets it will issue for a sale
  (src/queue/ticket-desk.ts), so that a flood of refused buyers costs one call per block, not
  one per ticket. The queue forms when the first block is taken (src/queue/queue.lua).

  KEYS[1] sale hash
  KEYS[2] sale bucket
  KEYS[3] queue hash
  KEYS[4] queue calls
  KEYS[5] stock

  ARGV[1] positions wanted (positive integer)
  ARGV[2] a fresh random seed (hex): kept as the draw's seed if the sale has a pre-queue lottery
          and none is set yet

  Returns:
  {SALE_NOT_FOUND}
  {TICKETS, last position of the block, now ms, position now served, rate, starts_at_ms,
   lottery 0/1}
]]
-- @include admission/admission.lua
-- @include queue/queue.lua

local sale_key, bucket_key, queue_key, calls_key, stock_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local count = tonumber(ARGV[1])

local sale = redis.call('HMGET', sale_key, 'starts_at_ms', 'ends_at_ms', 'rate', 'burst', 'paused', 'lottery')
if not sale[1] then return {STATUS.SALE_NOT_FOUND} end
local rate, burst = tonumber(sale[3]), tonumber(sale[4])
local now_ms = admission_now_ms()
local selling = not admission_window(sale[1], sale[2], sale[5], now_ms)
  and tonumber(redis.call('GET', stock_key) or '0') > 0
local lottery = sale[6] == '1'
if lottery then redis.call('HSETNX', queue_key, 'seed', ARGV[2]) end
local serving = queue_advance(queue_key, calls_key, bucket_key, rate, burst, now_ms, selling, lottery,
  tonumber(sale[1]))
local last = queue_take(queue_key, bucket_key, rate, burst, now_ms, count)
return {STATUS.TICKETS, last, now_ms, serving, rate, tonumber(sale[1]), lottery and 1 or 0}
