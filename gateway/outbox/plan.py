"""The outbox: which replies an event produces, on which channels, in which language.

A reply always goes back out the channel the request came in on; the channel decides what that
means (a web form's channel is the requester's status page, plus email when they left an address;
a voicemail is answered by text). The worker asks the channel registry for those targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jinja2

from gateway.models import Reply, ReplyEvent
from gateway.outbox.templating import render_reply


def plan_replies(
    env: jinja2.Environment,
    conv_id: str,
    conv: dict[str, str],
    event: ReplyEvent,
    context: dict[str, Any],
    default_language: str,
    targets: Sequence[tuple[str, str]],
    *,
    by_person: bool = False,
) -> list[Reply]:
    """One rendered reply per (channel, recipient) target, in the conversation's language.

    `by_person`: a person wrote the event's words (a staff comment), so a channel may treat it as a person's reply.
    """
    language = conv.get("language") or default_language
    out = []
    for channel, recipient in targets:
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
                by_person=by_person,
            )
        )
    return out
