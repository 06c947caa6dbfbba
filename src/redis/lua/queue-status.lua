--[[
  queue-status: where a sale's queue stands, advanced to now (QueueService's check and the
  gate's poll for its watchers, src/queue/queue-watch.ts), and one ticket's use and turn.

  KEYS[1] sale hash
  KEYS[2] stock
  KEYS[3] sale bucket
  KEYS[4] queue hash
  KEYS[5] queue calls
  KEYS[6] used tickets

  ARGV[1] a ticket's position (0: none)
  ARGV[2] its issue time, ms
  ARGV[3] the turn a called ticket has, ms
  ARGV[4] a fresh random seed (hex): kept as the draw's seed if the sale has a pre-queue lottery
          and none is set yet (so that its hash is published before the start)

  Returns:
  {SALE_NOT_FOUND}
  {QUEUE, now ms, position now served, positions issued, units left, starts_at_ms, ends_at_ms,
   paused 0/1, rate, the ticket used 0/1, the end of its turn ms (0 when not called),
   lottery 0/1, entrants (0 until drawn), seed (hex, '' without a lottery)}
]]
-- @include admission/admission.lua
-- @include queue/queue.lua

local sale_key, stock_key, bucket_key, queue_key, calls_key, used_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local position, issued_at_ms, grace_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local sale = redis.call('HMGET', sale_key, 'starts_at_ms', 'ends_at_ms', 'rate', 'burst', 'paused', 'lottery')
if not sale[1] then return {STATUS.SALE_NOT_FOUND} end
local rate, burst = tonumber(sale[3]), tonumber(sale[4])
local now_ms = admission_now_ms()
local units_left = tonumber(redis.call('GET', stock_key) or '0')
local selling = not admission_window(sale[1], sale[2], sale[5], now_ms) and units_left > 0
local lottery = sale[6] == '1'
if lottery then redis.call('HSETNX', queue_key, 'seed', ARGV[4]) end
local serving, issued =
  queue_advance(queue_key, calls_key, bucket_key, rate, burst, now_ms, selling, lottery,
    tonumber(sale[1]))
local draw = redis.call('HMGET', queue_key, 'entrants', 'seed')
local used, turn_ends = 0, 0
if position > 0 then
  used = redis.call('GETBIT', used_key, position)
  if position <= serving then turn_ends = queue_turn_ends(calls_key, position, issued_at_ms, grace_ms) end
end
return {STATUS.QUEUE, now_ms, serving, issued, units_left,
  tonumber(sale[1]), tonumber(sale[2]), sale[5] == '1' and 1 or 0, rate, used, turn_ends,
  lottery and 1 or 0, tonumber(draw[1]) or 0, draw[2] or ''}
