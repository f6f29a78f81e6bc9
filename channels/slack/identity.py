"""Who asked on Slack: the user's users.info profile (display name, email), cached in Redis with an expiry.

Runs in the deliver job, before the ticket is made: an outbound call never sits on the request path,
and a failed lookup never blocks the ticket (it is made with what the message already says).
"""

from __future__ import annotations

import logging

import redis
from slack_sdk.errors import SlackApiError, SlackClientError

from channels.slack.api import client_for, workspace_for
from gateway import keys
from gateway.models import Commitment
from gateway.outbox.templating import TEMPLATE_DIR
from gateway.settings import Settings
from gateway.store.redis_conn import text
from normalizers.text import primary_language

log = logging.getLogger("intake.slack.identity")


def profile(r: redis.Redis, settings: Settings, team: str, user: str) -> dict[str, str]:
    """{"name", "email", "locale"} of a Slack user (any may be empty); {} when Slack could not tell us."""
    conf = settings.channels.slack
    key = keys.slack_user(team, user)
    cached = r.hgetall(key)
    if cached:
        return {text(k): text(v) for k, v in cached.items()}
    ws = workspace_for(conf, team)
    if ws is None:
        return {}
    try:
        resp = client_for(conf, ws).users_info(user=user, include_locale=True)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("users.info failed: the ticket is made without the profile", extra={"error": type(exc).__name__})
        return {}
    info = resp.get("user") or {}
    p = info.get("profile") or {}
    found = {
        "name": str(p.get("display_name") or p.get("real_name") or info.get("real_name") or ""),
        "email": str(p.get("email") or ""),
        "locale": str(info.get("locale") or ""),
    }
    with r.pipeline() as pipe:
        pipe.hset(key, mapping={"name": found["name"], "email": found["email"], "locale": found["locale"]})
        pipe.expire(key, conf.identity_cache_s)
        pipe.execute()
    return found


def with_slack_identity(r: redis.Redis, settings: Settings, c: Commitment) -> Commitment:
    """The commitment with its requester's name and email filled in from Slack, when Slack knows them."""
    m = c.message
    found = profile(r, settings, m.account, m.sender) if m.channel == "slack" and m.sender else {}
    if not found:
        return c
    language = primary_language(found.get("locale")) or ""
    if not (TEMPLATE_DIR / "received" / f"slack.{language}.j2").exists():
        language = m.language  # answer in a language we have words for
    requester = m.requester.model_copy(
        update={
            "display_name": found.get("name") or m.requester.display_name,
            "email": found.get("email") or None,
            "locale": language,
        }
    )
    conv_key = keys.conversation(c.conversation)
    if language != m.language and (c.conversation == m.id or text(r.hget(conv_key, "sender") or "") == m.sender):
        # Replies go out in the requester's Slack language (the commit wrote the workspace default).
        r.hset(conv_key, "language", language)
    message = m.model_copy(update={"requester": requester, "language": language})
    return c.model_copy(update={"message": message})
