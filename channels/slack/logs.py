"""Keeping Slack's libraries from logging what families and staff wrote, and tokens."""

from __future__ import annotations

import logging


class _NoBodies(logging.Filter):
    """Bolt logs request bodies (unhandled requests, listener errors, debug answers): keep only that it spoke."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        error = record.exc_info[1] if record.exc_info else None
        record.msg = "slack framework reported a problem"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.error = type(error).__name__ if error else ""
        return True


def bolt_logger() -> logging.Logger:
    """The base logger bolt copies its level and filters from, for every logger it makes."""
    logger = logging.getLogger("intake.slack.bolt")
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, _NoBodies) for f in logger.filters):
        logger.addFilter(_NoBodies())
    # slack_sdk logs each API call's arguments (message text, tokens in headers) at DEBUG.
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    return logger
