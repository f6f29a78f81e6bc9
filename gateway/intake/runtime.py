"""Building the inbound pipeline a process needs: Redis clients, group commit with its spool, resolver, router."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from gateway.directory.identity import IdentityResolver
from gateway.intake.conversations import ConversationResolver
from gateway.intake.languages import warm_up
from gateway.intake.pipeline import Pipeline
from gateway.metrics import Metrics
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.store.commit import Committer
from gateway.store.group_commit import GroupCommitter
from gateway.store.redis_conn import async_client
from gateway.store.spool import Spool


@dataclass
class Runtime:
    redis: aioredis.Redis
    committer: GroupCommitter
    pipeline: Pipeline
    metrics: Metrics

    async def close(self) -> None:
        if self.pipeline.identity is not None:
            self.pipeline.identity.close()
        self.committer.close()
        self.committer.spool.close()
        await self.redis.aclose()


def build_runtime(settings: Settings, spool_name: str, metrics: Metrics | None = None) -> Runtime:
    """Each process gets its own spool file: a spool is drained by the process that wrote it."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    metrics = metrics or Metrics()
    aredis = async_client(settings)
    resolver = ConversationResolver(
        aredis, settings.backends.default, settings.channels.twilio.conversation_window_days * 86400
    )
    group = GroupCommitter(
        Committer(aredis, settings),
        Spool(settings.path_in_data(spool_name)),
        metrics,
        settings.server.commit_batch_max,
        resolver,
        settings.server.commits_in_flight,
    )
    # Loaded before the first request: the mail poller detects every message, and a routing rule on
    # language (which a reload can add at any time) makes intake detect too.
    warm_up()
    identity = IdentityResolver.from_settings(settings.identity, settings.source_file, metrics)
    pipeline = Pipeline(
        resolver, Router(settings), group, metrics, identity=identity, default_language=settings.default_language
    )
    return Runtime(aredis, group, pipeline, metrics)
