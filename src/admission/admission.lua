--[[
  include: admission, the part of a PlaceOrder decision that says whether a buyer may try to
  buy now at all: the sale's window and pause flag, and the token buckets (per sale and per
  customer) refilled by the Redis clock. STATUS comes from the generated prelude.
]]

-- Redis's clock in ms: every gate decides by the same clock, never its own.
local function admission_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The refusal for a sale that does not sell now, or nil when it is open (fields of the sale hash).
local function admission_window(starts_at_ms, ends_at_ms, paused, now_ms)
  if paused == '1' then return {STATUS.SALE_PAUSED} end
  if now_ms < tonumber(starts_at_ms) then return {STATUS.SALE_NOT_OPEN, starts_at_ms} end
  if now_ms >= tonumber(ends_at_ms) then return {STATUS.SALE_ENDED} end
  return nil
end

-- A token bucket refilled by elapsed time, capped at burst: tokens now, and the wait in ms
-- until one token is available (0 when one is).
local function admission_bucket(key, rate, burst, now_ms)
  local b = redis.call('HMGET', key, 'tokens', 'ts_ms')
  local tokens = tonumber(b[1]) or burst
  local ts = tonumber(b[2]) or now_ms
  if now_ms > ts then tokens = math.min(burst, tokens + (now_ms - ts) * rate / 1000) end
  if tokens >= 1 then return tokens, 0 end
  return tokens, math.ceil((1 - tokens) * 1000 / rate)
end

-- Takes `count` tokens (default 1) from a bucket that has them (see admission_bucket).
local function admission_take(key, tokens, rate, burst, now_ms, count)
  redis.call('HSET', key, 'tokens', tostring(tokens - (count or 1)), 'ts_ms', now_ms)
  -- A full bucket is the same as no bucket: let idle ones expire.
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
end
