"""Prometheus metrics. Labels are channel and outcome names only: never a sender or a body."""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)


class Metrics:
    def __init__(self) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("intake_received", "Inbound messages accepted for commit", ["channel"], registry=r)
        self.committed = Counter("intake_committed", "Messages committed to Redis", ["channel"], registry=r)
        self.duplicates = Counter("intake_duplicates", "Messages recognised as duplicates", ["channel"], registry=r)
        self.spooled = Counter("intake_spooled", "Messages written to the local spool", ["channel"], registry=r)
        self.drained = Counter("intake_spool_drained", "Spooled messages replayed into Redis", registry=r)
        self.rejected = Counter("intake_rejected", "Requests refused", ["channel", "reason"], registry=r)
        self.unavailable = Counter("intake_unavailable", "Requests answered 503", ["channel"], registry=r)
        self.ignored = Counter(
            "intake_ignored",
            "Inbound messages that made no request (loops, bounces, ...)",
            ["channel", "reason"],
            registry=r,
        )
        self.mailbox_healthy = Gauge("intake_mailbox_healthy", "1 when a mailbox is healthy", ["mailbox"], registry=r)
        self.mail_quarantined = Gauge(
            "intake_mail_quarantined",
            "Messages that could not be parsed and wait in quarantine for an operator",
            registry=r,
        )
        self.spool_depth = Gauge("intake_spool_depth", "Messages waiting in the local spool", registry=r)
        self.redis_up = Gauge("intake_redis_up", "1 when Redis answered the last commit or probe", registry=r)
        self.directory_lookups = Counter(
            "intake_directory_lookups",
            "Requester lookups by directory and outcome (found, household, not_found, timeout, unavailable, skipped)",
            ["directory", "outcome"],
            registry=r,
        )
        self.languages = Counter(
            "intake_request_language", "Requests by language and where it came from", ["language", "source"], registry=r
        )
        self.incidents = Gauge("intake_incidents", "Incidents by state (open, proposed)", ["state"], registry=r)
        self.incident_proposals = Gauge(
            "intake_incident_proposals", "Incidents the surge detector has proposed, ever", registry=r
        )
        self.commit_batch = Histogram(
            "intake_commit_batch_size",
            "Messages per Redis commit round trip",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )

    def child(self, metric: M, *values: str) -> M:
        """`metric.labels(*values)`, remembered: the request path counts the same few label sets for
        every message, and prometheus_client takes a lock and builds the key on each `labels` call."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found  # type: ignore[return-value]
