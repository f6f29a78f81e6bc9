"""Freshdesk (API v2): tickets made and noted by the gateway; statuses and agents' replies back by its automations."""

from __future__ import annotations

from workers.backends.freshdesk.backend import FreshdeskBackend

__all__ = ["FreshdeskBackend"]
