--[[
  include: the sale's waiting room (src/queue/, docs/waiting-room.md). Tickets hold positions
  in arrival order; the queue calls positions at the sale's admission rate while any are
  waiting, and the sale's bucket gets nothing meanwhile: the rate goes to the queue first, so
  nobody without a called ticket overtakes those waiting. Needs admission.lua.

  queue hash: issued (positions handed to gates, in blocks), serving (highest position
  called), ts_ms and carry (when the queue was last advanced, and the part of a call owed);
  for a sale with a pre-queue lottery, seed (hex, set once, before the start) and entrants (the
  numbers issued before the start, which the draw orders: set by the first advance after it)
  calls sorted set: score = the highest position of one advance, member "position:ms"; the
    advances of one 100 ms stretch share one entry (the latest), so a turn may end up to 100 ms
    late, never early, and the set holds at most ten entries a second
  used bitmap: bit = position whose ticket admitted an order
]]

-- Calls the positions due since the last advance, by the Redis clock. While positions wait
-- the bucket is held empty (what it would refill calls them); once all are called, what is
-- left over goes back to the bucket, which fills from then on as always. A sale that is not
-- selling (paused, not open, ended or sold out: `selling` false) calls nobody: a turn it could
-- not honour would be lost, and a restock finds the queue where the sell-out left it.
-- Time before the start (`starts_at_ms`) calls nobody either, whether or not a script ran
-- then. `lottery`: the sale draws its early arrivals. Returns serving, issued.
local function queue_advance(queue_key, calls_key, bucket_key, rate, burst, now_ms, selling, lottery,
                             starts_at_ms)
  local q = redis.call('HMGET', queue_key, 'issued', 'serving', 'ts_ms', 'carry', 'entrants')
  local issued, serving = tonumber(q[1]) or 0, tonumber(q[2]) or 0
  if lottery and selling and not q[5] then redis.call('HSET', queue_key, 'entrants', issued) end
  if serving >= issued then return serving, issued end
  if not selling then
    redis.call('HSET', queue_key, 'ts_ms', now_ms)
    return serving, issued
  end
  local ts = math.max(tonumber(q[3]) or now_ms, starts_at_ms)
  local credit = (tonumber(q[4]) or 0) + math.max(0, now_ms - ts) * rate / 1000
  local step = math.min(math.floor(credit), issued - serving)
  if step > 0 then
    serving = serving + step
    credit = credit - step
    local latest = redis.call('ZRANGE', calls_key, -1, -1)[1]
    if latest and tonumber(string.match(latest, ':(%d+)$')) > now_ms - 100 then
      redis.call('ZREM', calls_key, latest)
    end
    redis.call('ZADD', calls_key, serving, serving .. ':' .. now_ms)
  end
  if serving >= issued then
    redis.call('HSET', bucket_key, 'tokens', tostring(math.min(burst, credit)), 'ts_ms', now_ms)
    redis.call('PEXPIRE', bucket_key, math.ceil(burst * 1000 / rate) + 1000)
    credit = 0
  end
  redis.call('HSET', queue_key, 'serving', serving, 'ts_ms', now_ms, 'carry', tostring(credit))
  return serving, issued
end

-- Takes `count` positions for a gate's block; the queue forms when none were waiting, and the
-- bucket's tokens carry into it (they call the first positions at once). Returns the last one.
local function queue_take(queue_key, bucket_key, rate, burst, now_ms, count)
  local q = redis.call('HMGET', queue_key, 'issued', 'serving')
  if (tonumber(q[2]) or 0) >= (tonumber(q[1]) or 0) then
    local tokens = admission_bucket(bucket_key, rate, burst, now_ms)
    redis.call('HSET', queue_key, 'ts_ms', now_ms, 'carry', tostring(math.max(0, tokens)))
    redis.call('HSET', bucket_key, 'tokens', '0', 'ts_ms', now_ms)
  end
  return redis.call('HINCRBY', queue_key, 'issued', count)
end

-- When `position` was called (ms), or 0 when its call has been trimmed (long past).
local function queue_called_at(calls_key, position)
  local first = redis.call('ZRANGEBYSCORE', calls_key, position, '+inf', 'LIMIT', 0, 1)[1]
  if not first then return 0 end
  return tonumber(string.match(first, ':(%d+)$'))
end

-- Drops calls made before `before_ms` (a few per call: each script does its share).
local function queue_trim(calls_key, before_ms)
  for _, member in ipairs(redis.call('ZRANGE', calls_key, 0, 7)) do
    if tonumber(string.match(member, ':(%d+)$')) >= before_ms then return end
    redis.call('ZREM', calls_key, member)
  end
end

-- The end of a called ticket's turn: its grace from its call, or from its issue when the gate
-- handed out the position after it was called (a block's later positions).
local function queue_turn_ends(calls_key, position, issued_at_ms, grace_ms)
  return math.max(queue_called_at(calls_key, position), issued_at_ms) + grace_ms
end
