"""Is a mailbox healthy? Silence during school hours and repeated login failures are alarms.

A mailbox that stops delivering looks exactly like a quiet one, so "no mail for four hours on a
school day" is reported, as is a poller that has not checked in, or one that keeps failing to log in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import redis
import redis.asyncio as aioredis

from gateway import keys
from gateway.settings import EmailSettings, Mailbox, Settings

# The poller checks in at least this often (IDLE renewals, polls); past it, the poller is presumed dead.
CHECK_IN_GRACE_S = 15 * 60


@dataclass(frozen=True)
class MailboxHealth:
    mailbox: str
    ok: bool
    problems: tuple[str, ...]


def _school_window(box: Mailbox, now: datetime) -> tuple[datetime, datetime] | None:
    if now.weekday() >= 5:
        return None
    start_s, end_s = box.school_hours.split("-")
    start = datetime.combine(now.date(), time.fromisoformat(start_s), now.tzinfo)
    end = datetime.combine(now.date(), time.fromisoformat(end_s), now.tzinfo)
    return (start, end) if start <= now <= end else None


def evaluate(name: str, box: Mailbox, conf: EmailSettings, record: dict[str, str], now: datetime) -> MailboxHealth:
    """`record` is the poller's health hash; `now` is local district time (aware)."""
    problems = []
    failures = int(record.get("login_failures", "0"))
    if failures >= conf.login_failure_alarm:
        problems.append(f"login failed {failures} times in a row")
    checked = record.get("checked_at")
    if not checked:
        problems.append("the poller has never checked this mailbox")
    elif now - datetime.fromisoformat(checked) > timedelta(seconds=CHECK_IN_GRACE_S):
        problems.append("the poller has not checked in for over 15 minutes")
    window = _school_window(box, now)
    if window:
        last = record.get("last_message_at") or record.get("started_at")
        quiet_since = max(datetime.fromisoformat(last), window[0]) if last else window[0]
        if now - quiet_since > timedelta(minutes=box.silence_alarm_minutes):
            problems.append(f"no mail for over {box.silence_alarm_minutes} minutes during school hours")
    return MailboxHealth(name, not problems, tuple(problems))


def _as_text(record: dict[Any, Any]) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
            for k, v in record.items()}  # fmt: skip


async def mailbox_report_async(client: aioredis.Redis, settings: Settings) -> list[MailboxHealth]:
    conf = settings.channels.email
    now = datetime.now(settings.zone)
    out = []
    for name, box in conf.mailboxes.items():
        out.append(evaluate(name, box, conf, _as_text(await client.hgetall(keys.mail_health(name))), now))
    return out


def mailbox_report(client: redis.Redis, settings: Settings) -> list[MailboxHealth]:
    conf = settings.channels.email
    now = datetime.now(settings.zone)
    return [evaluate(n, b, conf, _as_text(client.hgetall(keys.mail_health(n))), now) for n, b in conf.mailboxes.items()]
