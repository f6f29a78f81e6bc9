"""Zammad (REST API): tickets made and added to by the gateway; statuses and agents' answers back by its webhook."""

from __future__ import annotations

from workers.backends.zammad.backend import ZammadBackend

__all__ = ["ZammadBackend"]
