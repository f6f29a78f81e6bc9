"""Posting a reply in the request's Slack thread (DM or channel), from a worker.

Never twice: each reply job's delivery key is claimed before the post and sealed with the posted
message's ts after it. A job retried after a crash between the two asks Slack (conversations.replies)
whether a message carrying its delivery key in its metadata is already in the thread.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from slack_sdk import WebClient

from channels.slack.api import call, client_for, workspace_for
from channels.slack.survey import survey_blocks
from channels.slack.views import reply_blocks
from gateway import keys
from gateway.intake.conversations import THREAD_KEY_TTL_S
from gateway.models import Reply
from gateway.outbox.parked import park
from gateway.settings import Settings, SlackSettings
from gateway.store.redis_conn import text

log = logging.getLogger("intake.slack.out")

METADATA_EVENT = "intake_reply"
POSTED_TTL_S = 30 * 86400
ATTEMPT = "attempt"


def _already_in_thread(messages: list[dict[str, Any]], delivery_key: str) -> str | None:
    for msg in messages:
        meta = msg.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") == METADATA_EVENT and payload.get("delivery") == delivery_key:
            return str(msg.get("ts", ""))
    return None


def _find_earlier_post(
    r: redis.Redis, conf: SlackSettings, client: WebClient, team: str, target: str, thread: str, delivery_key: str
) -> tuple[str, str] | None:
    """(ts, channel) of a message carrying this delivery key, in the thread, or else among the DM's latest."""
    if thread:
        found = call(r, conf, team, target, client.conversations_replies, channel=target, ts=thread,
                     include_all_metadata=True, limit=200)  # fmt: skip
        ts = _already_in_thread(found.get("messages") or [], delivery_key)
        return (ts, target) if ts else None
    channel = target
    if target.startswith(("U", "W")):
        # A first post to a person went to their DM with the app; its id comes from conversations.open.
        opened = call(r, conf, team, target, client.conversations_open, users=target)
        channel = str((opened.get("channel") or {}).get("id") or target)
    latest = call(r, conf, team, target, client.conversations_history, channel=channel, limit=50,
                  include_all_metadata=True)  # fmt: skip
    ts = _already_in_thread(latest.get("messages") or [], delivery_key)
    return (ts, channel) if ts else None


def _seal(r: redis.Redis, reply: Reply, team: str, posted_key: str, ts: str, where: str, thread: str) -> None:
    """Record the post; a first post (modal, shortcut) also becomes the request's thread."""
    with r.pipeline() as pipe:
        pipe.set(posted_key, ts, ex=POSTED_TTL_S)
        if not thread and ts:
            conversation_id = f"{team}:{where}"
            pipe.hset(
                keys.conversation(reply.conversation),
                mapping={"provider_conversation": conversation_id, "provider_thread": ts},
            )
            thread_key = keys.provider_thread("slack", conversation_id, ts)
            pipe.set(thread_key, reply.conversation, ex=THREAD_KEY_TTL_S, nx=True)
        pipe.execute()


NO_WORKSPACE = "no workspace configured for this team"


def slack_held_back(r: redis.Redis, settings: Settings, reply: Reply) -> str:
    """Why this reply would wait on the outbound list now ("" when a configured workspace would post it)."""
    team = text(r.hget(keys.conversation(reply.conversation), "account") or "")
    return "" if workspace_for(settings.channels.slack, team) is not None else NO_WORKSPACE


def send_slack_reply(r: redis.Redis, settings: Settings, reply: Reply, delivery_key: str) -> str:
    """Post now, or say why not. Raises when Slack fails, so the job is retried and then dead-lettered."""
    conf = settings.channels.slack
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(reply.conversation)).items()}
    team = conv.get("account", "")
    target = conv.get("provider_conversation", "").partition(":")[2] or reply.recipient
    thread = conv.get("provider_thread", "")
    ws = workspace_for(conf, team)
    if ws is None:
        park(r, reply, delivery_key)
        return f"pending: {NO_WORKSPACE}"
    posted_key = keys.slack_posted(delivery_key)
    state = r.get(posted_key)
    if state is not None and text(state) != ATTEMPT:
        return "already posted"
    client = client_for(conf, ws)
    if state is not None:
        # A try before this one may have posted and died before sealing: what Slack shows is the truth.
        found = _find_earlier_post(r, conf, client, team, target, thread, delivery_key)
        if found is not None:
            _seal(r, reply, team, posted_key, found[0], found[1], thread)
            return "already posted"
    r.set(posted_key, ATTEMPT, ex=POSTED_TTL_S)
    status_button = reply.conversation if reply.event == "received" else None
    args: dict[str, Any] = {
        "channel": target,
        "text": reply.text,  # the plain-text fallback: notifications, screen readers, old clients
        "blocks": reply_blocks(
            reply.text, status_button, survey_blocks(reply.conversation) if reply.event == "csat" else None
        ),
        "metadata": {"event_type": METADATA_EVENT, "event_payload": {"delivery": delivery_key}},
        "unfurl_links": False,
    }
    if thread:
        args["thread_ts"] = thread
    resp = call(r, conf, team, target, client.chat_postMessage, **args)
    _seal(r, reply, team, posted_key, str(resp.get("ts", "")), str(resp.get("channel") or target), thread)
    log.info("slack reply posted", extra={"event": reply.event, "conversation": reply.conversation})
    return "sent"
