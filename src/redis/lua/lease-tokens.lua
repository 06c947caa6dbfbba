--[[
  lease-tokens: a gate takes many of a hot sale's admission tokens at once, so that it can
  admit and refuse that sale's orders without a round trip each (src/admission/edge-admission.ts).
  The tokens come out of the same bucket place-order takes single tokens from, so the sale's
  rate holds across every gate and both paths. The reply also carries the sale's window and
  pause flag by the Redis clock: each lease call is the gate's poll of the sale's state.

  KEYS[1] sale hash     (starts_at_ms, ends_at_ms, rate, burst, paused)
  KEYS[2] sale bucket   (hash: tokens, ts_ms)
  KEYS[3] stats hash
  KEYS[4] queue hash    (src/queue/queue.lua): advanced first; while tickets wait the rate is
          theirs, and a lease grants nothing
  KEYS[5] queue calls
  KEYS[6] stock         (units left: a sold-out sale's queue waits for a restock)

  ARGV[1] tokens wanted (positive integer)
  ARGV[2] requests the gate refused for the rate since its last call (added to the statistics)

  Returns:
  {SALE_NOT_FOUND}
  {LEASED, granted, wait ms until the next token, now ms, starts_at_ms, ends_at_ms, paused 0/1,
   rate, burst, position now served, positions issued, lottery 0/1}
  A closed or paused sale grants nothing: no token leaves the bucket for an order that cannot
  be taken.
]]
-- @include admission/admission.lua
-- @include queue/queue.lua

local sale_key, bucket_key, stats_key, queue_key, calls_key, stock_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local wanted, refused = tonumber(ARGV[1]), tonumber(ARGV[2])

local sale = redis.call('HMGET', sale_key, 'starts_at_ms', 'ends_at_ms', 'rate', 'burst', 'paused', 'lottery')
if not sale[1] then return {STATUS.SALE_NOT_FOUND} end
if refused > 0 then redis.call('HINCRBY', stats_key, 'rate_limited', refused) end
local now_ms = admission_now_ms()
local rate, burst = tonumber(sale[3]), tonumber(sale[4])
local paused = sale[5] == '1' and 1 or 0

local open = not admission_window(sale[1], sale[2], sale[5], now_ms)
local selling = open and tonumber(redis.call('GET', stock_key) or '0') > 0
local lottery = sale[6] == '1'
local serving, issued =
  queue_advance(queue_key, calls_key, bucket_key, rate, burst, now_ms, selling, lottery,
    tonumber(sale[1]))
local granted, wait = 0, 0
if serving < issued then
  wait = math.ceil((issued - serving + 1) * 1000 / rate)
elseif open then
  local tokens
  tokens, wait = admission_bucket(bucket_key, rate, burst, now_ms)
  granted = math.min(wanted, math.floor(tokens))
  if granted > 0 then
    admission_take(bucket_key, tokens, rate, burst, now_ms, granted)
    wait = tokens - granted >= 1 and 0 or math.ceil((1 - (tokens - granted)) * 1000 / rate)
  end
end
return {STATUS.LEASED, granted, wait, now_ms, tonumber(sale[1]), tonumber(sale[2]), paused, rate, burst,
  serving, issued, lottery and 1 or 0}
