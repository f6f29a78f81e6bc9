"""Incident gauges for /metrics, read from Redis at scrape time (proposals are made by workers, not this process)."""

from __future__ import annotations

import redis.asyncio as aioredis

from gateway import keys
from gateway.metrics import Metrics


async def refresh_incident_metrics(client: aioredis.Redis, metrics: Metrics) -> None:
    async with client.pipeline(transaction=False) as pipe:
        pipe.scard(keys.INCIDENTS_ACTIVE)
        pipe.scard(keys.INCIDENTS_PROPOSED)
        pipe.get(keys.INCIDENT_PROPOSALS_TOTAL)
        active, proposed, total = await pipe.execute()
    metrics.incidents.labels("open").set(int(active))
    metrics.incidents.labels("proposed").set(int(proposed))
    metrics.incident_proposals.set(int(total or 0))
