"""Zendesk (Support API): tickets made and commented by the gateway; statuses and agents' answers back by webhook."""

from __future__ import annotations

from workers.backends.zendesk.backend import ZendeskBackend

__all__ = ["ZendeskBackend"]
