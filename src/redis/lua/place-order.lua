--[[
  place-order: the whole admission decision for one PlaceOrder, atomically, in one round trip.

  Order of checks: idempotency (replay / in flight / reused) -> sale exists and open ->
  token buckets (sale admission, then customer; neither is charged unless both admit) ->
  per-customer limit -> stock for the whole quantity -> commit: stock, customer total,
  idempotency entry (RESERVED, with the answer to replay) and the outbox entry together.

  Every key carries the sale's hash tag, so the script runs unchanged on Redis Cluster.

  KEYS[1] sale hash     (starts_at_ms, ends_at_ms, rate, burst, limit, paused, ...)
  KEYS[2] stock         (integer units left; missing = fail closed)
  KEYS[3] sale bucket   (hash: tokens, ts_ms)
  KEYS[4] customer bucket (hash: tokens, ts_ms)
  KEYS[5] customer bought (integer units this customer holds in this sale)
  KEYS[6] idempotency entry (hash: fp, order_id, state, answer, entry)
  KEYS[7] outbox stream
  KEYS[8] stats hash

  ARGV[1] request fingerprint (hex)
  ARGV[2] order id
  ARGV[3] quantity (positive integer)
  ARGV[4] idempotency entry ttl, ms
  ARGV[5] accepted order, JSON (the outbox payload and the answer to replay)
  ARGV[6] customer bucket rate, tokens per second
  ARGV[7] customer bucket burst

  Returns an array whose first element is the status code (src/redis/codes.ts gives meaning):
  {0, outbox entry id, units left}  RESERVED
  {1, state, answer}                 KNOWN_KEY: entry exists with the same fingerprint
                                     (state RESERVED = in flight; COMPLETED/REFUSED = replay)
  {2}                                KEY_REUSED: entry exists with another fingerprint
  {3}                                SALE_NOT_FOUND
  {4}                                SALE_PAUSED
  {5, starts_at_ms}                  SALE_NOT_OPEN
  {6}                                SALE_ENDED
  {7, retry after ms}                RATE_LIMITED (nothing stored)
  {8, remaining units}               LIMIT_REACHED (refusal stored for replay)
  {9, units left}                    SOLD_OUT (refusal stored for replay)
  {10}                               STOCK_MISSING: sale present but counter lost; fail closed
]]
local sale_key, stock_key, sale_bucket, customer_bucket, bought_key, idem_key, outbox_key, stats_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local fingerprint, order_id = ARGV[1], ARGV[2]
local quantity, idem_ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local accepted_json = ARGV[5]
local customer_rate, customer_burst = tonumber(ARGV[6]), tonumber(ARGV[7])

local known = redis.call('HMGET', idem_key, 'fp', 'state', 'answer')
if known[1] then
  if known[1] ~= fingerprint then return {2} end
  redis.call('HINCRBY', stats_key, 'replays', 1)
  return {1, known[2], known[3]}
end

-- Stores a refusal so that a repeat of this request gets the identical answer.
local function refuse(answer)
  redis.call('HSET', idem_key, 'fp', fingerprint, 'state', 'REFUSED', 'answer', answer)
  redis.call('PEXPIRE', idem_key, idem_ttl)
end

local sale = redis.call('HMGET', sale_key, 'starts_at_ms', 'ends_at_ms', 'rate', 'burst', 'limit', 'paused')
if not sale[1] then return {3} end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if sale[6] == '1' then return {4} end
if now_ms < tonumber(sale[1]) then return {5, sale[1]} end
if now_ms >= tonumber(sale[2]) then
  refuse('{"reason":"SALE_ENDED"}')
  return {6}
end

-- Token bucket: refill by elapsed time, capped at burst. Returns tokens now and the wait in ms
-- until one token is available (0 when one is).
local function bucket(key, rate, burst)
  local b = redis.call('HMGET', key, 'tokens', 'ts_ms')
  local tokens = tonumber(b[1]) or burst
  local ts = tonumber(b[2]) or now_ms
  if now_ms > ts then tokens = math.min(burst, tokens + (now_ms - ts) * rate / 1000) end
  if tokens >= 1 then return tokens, 0 end
  return tokens, math.ceil((1 - tokens) * 1000 / rate)
end
local function take(key, tokens, rate, burst)
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'ts_ms', now_ms)
  -- A full bucket is the same as no bucket: let idle ones expire.
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
end

local sale_rate, sale_burst = tonumber(sale[3]), tonumber(sale[4])
local sale_tokens, sale_wait = bucket(sale_bucket, sale_rate, sale_burst)
local customer_tokens, customer_wait = bucket(customer_bucket, customer_rate, customer_burst)
if sale_wait > 0 or customer_wait > 0 then
  redis.call('HINCRBY', stats_key, 'rate_limited', 1)
  return {7, math.max(sale_wait, customer_wait)}
end
take(sale_bucket, sale_tokens, sale_rate, sale_burst)
take(customer_bucket, customer_tokens, customer_rate, customer_burst)

local bought = tonumber(redis.call('GET', bought_key) or '0')
local limit = tonumber(sale[5])
if bought + quantity > limit then
  local remaining = math.max(limit - bought, 0)
  refuse('{"reason":"PURCHASE_LIMIT_REACHED","remaining":' .. remaining .. '}')
  return {8, remaining}
end

local stock = redis.call('GET', stock_key)
if not stock then return {10} end
stock = tonumber(stock)
if stock < quantity then
  redis.call('HINCRBY', stats_key, 'sold_out', 1)
  refuse('{"reason":"SOLD_OUT"}')
  return {9, stock}
end

local left = redis.call('DECRBY', stock_key, quantity)
redis.call('INCRBY', bought_key, quantity)
local entry = redis.call('XADD', outbox_key, '*', 'order', accepted_json)
redis.call('HSET', idem_key, 'fp', fingerprint, 'order_id', order_id, 'state', 'RESERVED',
  'answer', accepted_json, 'entry', entry)
redis.call('PEXPIRE', idem_key, idem_ttl)
redis.call('HINCRBY', stats_key, 'accepted', 1)
-- Units ever reserved: reconcile compares it with the units the database has recorded.
redis.call('HINCRBY', stats_key, 'accepted_units', quantity)
return {0, entry, left}
