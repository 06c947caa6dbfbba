--[[
  place-order: the whole decision for one PlaceOrder, atomically, in one round trip.

  Order of checks: idempotency (replay / reused) -> sale exists and open -> stock counter
  present and above zero -> outbox within its bounds -> the sale's admission: its queue
  (src/queue/queue.lua) is advanced; an order carrying a queue ticket is admitted when its
  position has been called, within its turn, and the ticket is unused; otherwise the sale's
  bucket admits it when no ticket is waiting (skipped when the gate spent a token of its
  lease) -> the customer's bucket (neither is charged unless both admit) -> per-customer limit
  -> stock for the whole quantity -> commit: stock, customer total, idempotency entry
  (RESERVED, with the answer to replay), the outbox entry and the ticket's use together. Refusals that stay true (ended, sold out, limit, not enough units) are stored as
  the key's answer; passing ones (paused, not open, rate) are not, so a retry is decided afresh.

  Every key carries the sale's hash tag, so the script runs unchanged on Redis Cluster.

  KEYS[1] sale hash     (starts_at_ms, ends_at_ms, rate, burst, limit, paused, ...)
  KEYS[2] stock         (integer units left; missing = fail closed)
  KEYS[3] sale bucket   (hash: tokens, ts_ms)
  KEYS[4] customer bucket (hash: tokens, ts_ms)
  KEYS[5] customer bought (integer units this customer holds in this sale)
  KEYS[6] idempotency entry (src/idempotency/idempotency.lua)
  KEYS[7] outbox stream
  KEYS[8] stats hash
  KEYS[9] accepted keys (set of the key hashes of the sale's accepted orders; its member '*'
          says it is complete: written when the sale was loaded fresh, gone after a reload)
  KEYS[10] queue hash    (src/queue/queue.lua: issued, serving, ts_ms, carry)
  KEYS[11] queue calls   (sorted set: when positions were called)
  KEYS[12] used tickets  (bitmap by position)

  ARGV[1] request fingerprint (hex)
  ARGV[2] order id
  ARGV[3] quantity (positive integer)
  ARGV[4] idempotency entry ttl, ms
  ARGV[5] accepted order, JSON (the outbox payload and the answer to replay)
  ARGV[6] customer bucket rate, tokens per second
  ARGV[7] customer bucket burst
  ARGV[8] most entries the outbox may hold (orders Kafka has not acknowledged yet)
  ARGV[9] oldest age an outbox entry may reach, ms
  ARGV[10] how the sale admits the order: 'bucket' (its bucket, unless tickets wait),
          'leased' (the gate spent a token of its lease, lease-tokens.lua: the bucket was
          charged already) or 'ticket' (a queue ticket: ARGV[12] and ARGV[13])
  ARGV[11] idempotency key hash (added to the accepted keys on acceptance, so that a gate can
          refuse a sold-out sale without Redis to anyone else: src/admission/accepted-keys.ts)
  ARGV[12] the ticket's position (0 without a ticket)
  ARGV[13] when the ticket was issued, ms
  ARGV[14] the turn a called ticket has to order in, ms

  Returns an array whose first element is a STATUS code (src/redis/codes.ts gives meaning):
  {RESERVED, outbox entry id, units left}
  {KNOWN_KEY, ...}                      the key's stored answer (idempotency include)
  {KEY_REUSED}                          the key holds another request's answer
  {SALE_NOT_FOUND} {SALE_PAUSED}
  {SALE_NOT_OPEN, starts_at_ms, 1 when the sale has a pre-queue lottery (0: not)}
  {SALE_ENDED}                          stored
  {STOCK_MISSING}                       sale present but counter lost: fail closed
  {OUTBOX_FULL}                         the outbox is past its bounds (broker long unreachable)
  {SOLD_OUT}                            stored: no unit left
  {RATE_LIMITED, retry after ms, 1 when the sale's admission refused (0: the customer's
   bucket), position now served}       nothing stored
  {TICKET_WAITING, position now served} the ticket is not called yet; nothing stored
  {TICKET_EXPIRED, end of its turn ms}  nothing stored
  {TICKET_USED}                         nothing stored
  {LIMIT_REACHED, units still allowed}  stored
  {INSUFFICIENT_STOCK, units left}      stored: fewer units left than asked for, but some
]]
-- @include idempotency/idempotency.lua
-- @include admission/admission.lua
-- @include queue/queue.lua

local sale_key, stock_key, sale_bucket, customer_bucket, bought_key, idem_key, outbox_key, stats_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local accepted_keys, queue_key, calls_key, used_key = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local fingerprint, order_id = ARGV[1], ARGV[2]
local quantity, idem_ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local accepted_json = ARGV[5]
local customer_rate, customer_burst = tonumber(ARGV[6]), tonumber(ARGV[7])
local outbox_max_entries, outbox_max_age_ms = tonumber(ARGV[8]), tonumber(ARGV[9])
local mode = ARGV[10]
local key_hash = ARGV[11]
local position, issued_at_ms, grace_ms = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])

local known = idempotency_known(idem_key, fingerprint, stats_key)
if known then return known end

local sale = redis.call('HMGET', sale_key, 'starts_at_ms', 'ends_at_ms', 'rate', 'burst', 'limit', 'paused',
  'lottery')
if not sale[1] then return {STATUS.SALE_NOT_FOUND} end
local now_ms = admission_now_ms()
local closed = admission_window(sale[1], sale[2], sale[6], now_ms)
if closed then
  if closed[1] == STATUS.SALE_ENDED then
    return idempotency_refuse(idem_key, fingerprint, idem_ttl, STATUS.SALE_ENDED)
  end
  if closed[1] == STATUS.SALE_NOT_OPEN then return {closed[1], closed[2], sale[7] == '1' and 1 or 0} end
  return closed
end

-- Sold out before the buckets: a buyer who cannot buy is told so, not told to wait.
local stock = redis.call('GET', stock_key)
if not stock then return {STATUS.STOCK_MISSING} end
stock = tonumber(stock)
if stock <= 0 then
  redis.call('HINCRBY', stats_key, 'sold_out', 1)
  return idempotency_refuse(idem_key, fingerprint, idem_ttl, STATUS.SOLD_OUT)
end

-- While the broker is unreachable orders wait in the outbox; past its bounds the sale stops
-- accepting rather than hold an unbounded backlog that Redis alone keeps.
local waiting = redis.call('XLEN', outbox_key)
if waiting >= outbox_max_entries then return {STATUS.OUTBOX_FULL} end
if waiting > 0 then
  local oldest = redis.call('XRANGE', outbox_key, '-', '+', 'COUNT', 1)[1][1]
  if now_ms - tonumber(string.match(oldest, '^(%d+)')) > outbox_max_age_ms then
    return {STATUS.OUTBOX_FULL}
  end
end

local sale_rate, sale_burst = tonumber(sale[3]), tonumber(sale[4])
local serving, issued =
  queue_advance(queue_key, calls_key, sale_bucket, sale_rate, sale_burst, now_ms, true, sale[7] == '1',
    tonumber(sale[1]))
-- Calls are kept a turn past their turn, so that an expired ticket is told when its turn ended.
-- A sale that never queued anyone has no calls: no command spent on them.
if issued > 0 then queue_trim(calls_key, now_ms - 2 * grace_ms) end
local sale_tokens, sale_wait = 0, 0
if mode == 'ticket' then
  if position > serving then return {STATUS.TICKET_WAITING, serving} end
  if redis.call('GETBIT', used_key, position) == 1 then return {STATUS.TICKET_USED} end
  local turn_ends = queue_turn_ends(calls_key, position, issued_at_ms, grace_ms)
  if now_ms >= turn_ends then return {STATUS.TICKET_EXPIRED, turn_ends} end
elseif mode == 'bucket' then
  if serving < issued then
    -- Tickets are waiting: the rate is theirs. A new ticket's call is at least this far off.
    sale_wait = math.ceil((issued - serving + 1) * 1000 / sale_rate)
  else
    sale_tokens, sale_wait = admission_bucket(sale_bucket, sale_rate, sale_burst, now_ms)
  end
end
local customer_tokens, customer_wait =
  admission_bucket(customer_bucket, customer_rate, customer_burst, now_ms)
if sale_wait > 0 or customer_wait > 0 then
  redis.call('HINCRBY', stats_key, 'rate_limited', 1)
  return {STATUS.RATE_LIMITED, math.max(sale_wait, customer_wait), sale_wait > 0 and 1 or 0, serving}
end
if mode == 'bucket' then admission_take(sale_bucket, sale_tokens, sale_rate, sale_burst, now_ms) end
admission_take(customer_bucket, customer_tokens, customer_rate, customer_burst, now_ms)

local bought = tonumber(redis.call('GET', bought_key) or '0')
local limit = tonumber(sale[5])
if bought + quantity > limit then
  return idempotency_refuse(idem_key, fingerprint, idem_ttl, STATUS.LIMIT_REACHED,
    math.max(limit - bought, 0))
end

if stock < quantity then
  return idempotency_refuse(idem_key, fingerprint, idem_ttl, STATUS.INSUFFICIENT_STOCK, stock)
end

local left = redis.call('DECRBY', stock_key, quantity)
redis.call('INCRBY', bought_key, quantity)
local entry = redis.call('XADD', outbox_key, '*', 'order', accepted_json)
idempotency_reserve(idem_key, fingerprint, idem_ttl, order_id, accepted_json, entry)
redis.call('SADD', accepted_keys, key_hash)
if mode == 'ticket' then redis.call('SETBIT', used_key, position, 1) end
redis.call('HINCRBY', stats_key, 'accepted', 1)
-- Units ever reserved: reconcile compares it with the units the database has recorded.
redis.call('HINCRBY', stats_key, 'accepted_units', quantity)
return {STATUS.RESERVED, entry, left}
