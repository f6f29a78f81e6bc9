"""The outbox: which replies an event produces, on which channels, in which language.

A reply always goes back out the channel the request came in on. A web form's channel is the
requester's status page; when the requester also left an email address, the reply is queued for
email too (kept on the email channel's outbound queue until that channel sends it).
"""

from __future__ import annotations

from typing import Any

import jinja2

from gateway.models import ChannelName, Reply, ReplyEvent
from gateway.outbox.templating import render_reply


def reply_targets(conv: dict[str, str]) -> list[tuple[ChannelName, str]]:
    channel = conv.get("channel", "webform")
    if channel == "voice":
        channel = "sms"  # a caller who left a voicemail is answered by text, from the number they called
    targets: list[tuple[ChannelName, str]] = [(channel, conv.get("sender", ""))]  # type: ignore[list-item]
    if channel == "webform" and conv.get("email"):
        targets.append(("email", conv["email"]))
    return targets


def plan_replies(
    env: jinja2.Environment,
    conv_id: str,
    conv: dict[str, str],
    event: ReplyEvent,
    context: dict[str, Any],
    default_language: str,
) -> list[Reply]:
    language = conv.get("language") or default_language
    out = []
    for channel, recipient in reply_targets(conv):
        rendered = render_reply(env, event, channel, language, default_language, context)
        out.append(
            Reply(
                conversation=conv_id,
                channel=channel,
                recipient=recipient,
                event=event,
                language=rendered.language,
                subject=rendered.subject,
                text=rendered.text,
            )
        )
    return out
