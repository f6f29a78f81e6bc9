"""Posting a reply in the request's Slack thread (DM or channel), from a worker.

Never twice: each reply job's delivery key is claimed before the post and sealed with the posted
message's ts after it. A job retried after a crash between the two asks Slack (conversations.replies)
whether a message carrying its delivery key in its metadata is already in the thread.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from channels.slack_views import reply_blocks
from gateway import keys
from gateway.conversations import THREAD_KEY_TTL_S
from gateway.models import Reply
from gateway.redis_conn import text
from gateway.settings import Settings
from workers.slack_api import call, client_for, workspace_for

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


def send_slack_reply(r: redis.Redis, settings: Settings, reply: Reply, delivery_key: str) -> str:
    """Post now, or say why not. Raises when Slack fails, so the job is retried and then dead-lettered."""
    conf = settings.channels.slack
    conv = {text(k): text(v) for k, v in r.hgetall(keys.conversation(reply.conversation)).items()}
    team = conv.get("account", "")
    target = conv.get("provider_conversation", "").partition(":")[2] or reply.recipient
    thread = conv.get("provider_thread", "")
    ws = workspace_for(conf, team)
    if ws is None:
        r.rpush(keys.pending_outbound("slack"), reply.model_dump_json())
        return "pending: no workspace configured for this team"
    posted_key = keys.slack_posted(delivery_key)
    state = r.get(posted_key)
    if state is not None and text(state) != ATTEMPT:
        return "already posted"
    client = client_for(conf, ws)
    if state is not None and thread:
        # A try before this one may have posted and died before sealing: Slack's thread is the truth.
        history = call(r, conf, team, target, client.conversations_replies, channel=target, ts=thread,
                       include_all_metadata=True, limit=200)  # fmt: skip
        ts = _already_in_thread(history.get("messages") or [], delivery_key)
        if ts:
            r.set(posted_key, ts, ex=POSTED_TTL_S)
            return "already posted"
    r.set(posted_key, ATTEMPT, ex=POSTED_TTL_S)
    status_button = reply.conversation if reply.event == "received" else None
    args: dict[str, Any] = {
        "channel": target,
        "text": reply.text,  # the plain-text fallback: notifications, screen readers, old clients
        "blocks": reply_blocks(reply.text, status_button),
        "metadata": {"event_type": METADATA_EVENT, "event_payload": {"delivery": delivery_key}},
        "unfurl_links": False,
    }
    if thread:
        args["thread_ts"] = thread
    resp = call(r, conf, team, target, client.chat_postMessage, **args)
    ts, where = str(resp.get("ts", "")), str(resp.get("channel") or target)
    with r.pipeline() as pipe:
        pipe.set(posted_key, ts, ex=POSTED_TTL_S)
        if not thread and ts:
            # A modal or shortcut request had no thread: our first post starts it, and answers in it join.
            conversation_id = f"{team}:{where}"
            pipe.hset(
                keys.conversation(reply.conversation),
                mapping={"provider_conversation": conversation_id, "provider_thread": ts},
            )
            thread_key = keys.provider_thread("slack", conversation_id, ts)
            pipe.set(thread_key, reply.conversation, ex=THREAD_KEY_TTL_S, nx=True)
        pipe.execute()
    log.info("slack reply posted", extra={"event": reply.event, "conversation": reply.conversation})
    return "sent"
