"""Redmine (REST API): issues made and noted by the gateway, staff's changes and public notes back by polling."""

from __future__ import annotations

from workers.backends.redmine.backend import RedmineBackend

__all__ = ["RedmineBackend"]
