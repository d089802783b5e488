"""The Lua scripts the Redis state runs: each one atomic, each one round trip.

Every key shares the `{relay}` hash tag, so a clustered Redis keeps them in one
slot and a script may touch several. Times come from Redis (`TIME`), never from
a replica's clock.

Leases. A session's lease is the member `<replica>|<session>` of one sorted set
per key (`{relay}:lease:identity:<id>`, `{relay}:lease:agent:<name>`). It lives
as long as its replica: `{relay}:replicas` holds each replica with the time its
liveness expires, and renewing is one `ZADD` there per replica, whatever its
number of sessions. A member whose replica has lapsed is dropped the next time
its key is counted, so a dead replica's capacity comes back within the expiry.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "RENEW", "REVOKE_MINTED", "STORE_MINTED"]

# KEYS[1] the replicas set, KEYS[2..] the lease sets.
# ARGV[1] the member, ARGV[2] this replica, ARGV[3] the liveness expiry in seconds,
# ARGV[4..] each lease set's cap. Returns 0 when every lease was taken, else the
# 1-based index of the first full lease set (nothing is taken then).
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
local alive = {}
for i = 2, #KEYS do
  local cap = tonumber(ARGV[i + 2])
  local count = 0
  for _, member in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
    local replica = string.match(member, '^([^|]+)|')
    local ok = alive[replica]
    if ok == nil then
      local until_ = redis.call('ZSCORE', KEYS[1], replica or '')
      ok = until_ ~= false and until_ ~= nil and tonumber(until_) > now
      alive[replica] = ok
    end
    if ok then count = count + 1 else redis.call('ZREM', KEYS[i], member) end
  end
  if count >= cap then return i - 1 end
end
for i = 2, #KEYS do redis.call('ZADD', KEYS[i], now, ARGV[1]) end
return 0
"""

# KEYS[1] the replicas set. ARGV[1] this replica, ARGV[2] the liveness expiry in seconds.
# Returns 1 when the replica was not listed (Redis lost it, or it had lapsed): its
# sessions' leases must then be registered again.
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
"""

# KEYS[1] the secrets index (digest -> expiry), KEYS[2] the secret's hash.
# ARGV[1] the digest, ARGV[2] its expiry (epoch s), ARGV[3] the cap, ARGV[4..] field, value.
# Returns 1 when stored, 0 when the cap is reached.
STORE_MINTED = """
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(t[1]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('EXPIREAT', KEYS[2], ARGV[2])
return 1
"""

# KEYS[1] the secrets index, KEYS[2] the secret's hash. ARGV[1] the digest, ARGV[2] the
# backend asking. Returns 1 when that backend's secret was revoked.
REVOKE_MINTED = """
if redis.call('HGET', KEYS[2], 'backend') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""
