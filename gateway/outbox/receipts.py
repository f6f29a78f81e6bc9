"""Delivery receipts: a provider's callbacks about a message we sent, applied only forward.

Callbacks arrive out of order ("delivered" can come before a late "sent"): a state is written only when
it is further along than the one recorded. Shared by every channel that gets receipts (Twilio's status
callback, WhatsApp's `statuses`).
"""

from __future__ import annotations

# KEYS[1]: the message hash. ARGV: status, its rank, error code, time, TTL. Creates the hash when the
# callback beats our own record of the send (the sender fills in the rest with HSETNX/HSET).
FORWARD_ONLY = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
if tonumber(ARGV[2]) <= cur then
  return {'stale', redis.call('HGET', KEYS[1], 'status') or ''}
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rank', ARGV[2], 'error', ARGV[3], 'updated_at', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {'applied', ARGV[1]}
"""
