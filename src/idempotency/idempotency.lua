--[[
  include: the idempotency entry of one request, shared by every script that answers or
  settles a PlaceOrder (place-order, sold-out, complete-orders).

  Entry: a hash with fp (request fingerprint), state (STATE.*, src/idempotency/states.ts),
  and either answer (the accepted order, JSON made by the gate) plus order_id and entry (its
  outbox entry id), or refusal (a STATUS.* code) plus value (that refusal's one number).
  STATUS and STATE come from the generated prelude.
]]

-- A known key's reply, or nil for a new key. A refusal is replayed as the reply it was first
-- given: {KNOWN_KEY, REFUSED, status, value}; an order as {KNOWN_KEY, state, answer}.
local function idempotency_known(idem_key, fingerprint, stats_key)
  local known = redis.call('HMGET', idem_key, 'fp', 'state', 'answer', 'refusal', 'value')
  if not known[1] then return nil end
  if known[1] ~= fingerprint then return {STATUS.KEY_REUSED} end
  redis.call('HINCRBY', stats_key, 'replays', 1)
  if known[2] == STATE.REFUSED then
    return {STATUS.KNOWN_KEY, known[2], tonumber(known[4]), known[5] or ''}
  end
  return {STATUS.KNOWN_KEY, known[2], known[3]}
end

-- Stores a refusal as the key's answer; returns it as this call's reply.
local function idempotency_refuse(idem_key, fingerprint, ttl_ms, status, value)
  redis.call('HSET', idem_key, 'fp', fingerprint, 'state', STATE.REFUSED, 'refusal', status,
    'value', value or '')
  redis.call('PEXPIRE', idem_key, ttl_ms)
  if value == nil then return {status} end
  return {status, value}
end

-- Records a reserved order as the key's answer: accepted, its outbox entry carrying it until
-- Kafka acknowledges it.
local function idempotency_reserve(idem_key, fingerprint, ttl_ms, order_id, answer, entry)
  redis.call('HSET', idem_key, 'fp', fingerprint, 'order_id', order_id, 'state', STATE.RESERVED,
    'answer', answer, 'entry', entry)
  redis.call('PEXPIRE', idem_key, ttl_ms)
end

-- The broker acknowledged the order: its entry leaves the outbox state. True when it moved.
local function idempotency_complete(idem_key, order_id)
  local known = redis.call('HMGET', idem_key, 'order_id', 'state')
  if known[1] ~= order_id or known[2] ~= STATE.RESERVED then return false end
  redis.call('HSET', idem_key, 'state', STATE.COMPLETED)
  return true
end
