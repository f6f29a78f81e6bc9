"""One Slack request's findings: the messages bolt's listeners normalized, and why anything was ignored.

A `Collected` lives for one request only (bolt carries it in its context); the channel object that
receives every request keeps no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from channels.slack.verify import Workspace
from gateway.ids import new_id
from gateway.models import Attachment, InboundMessage, Requester, ThreadHints
from gateway.settings import Settings, SlackSettings
from normalizers.slack import Ignored, SlackFields

SUBJECT_LEN = 80
MAX_TEXT_LEN = 40_000


@dataclass
class Collected:
    """What bolt's listeners found in one request: messages to commit, and why anything was ignored."""

    workspace: Workspace
    conf: SlackSettings
    redis: aioredis.Redis | None = None  # the web process's client, for a lazy listener that reads a status
    messages: list[InboundMessage] = field(default_factory=list)
    threaded_only: list[InboundMessage] = field(default_factory=list)  # thread replies: ours only if the thread is
    ignored: list[str] = field(default_factory=list)
    handled: bool = False
    settings: Settings | None = (
        None  # the process's settings, for a survey answer's follow-ups (channels/slack/survey.py)
    )

    def __deepcopy__(self, memo: dict[int, object]) -> Collected:
        # Bolt deep-copies its context for lazy listeners (after the answer): they read Redis through the same
        # client and collect nothing, so they get the same clients and empty findings.
        return Collected(self.workspace, self.conf, self.redis, settings=self.settings)

    def add(self, result: SlackFields | Ignored) -> None:
        self.handled = True
        if isinstance(result, Ignored):
            self.ignored.append(result.reason)
            return
        message = to_message(self.conf, result)
        (self.threaded_only if result.kind == "thread_reply" else self.messages).append(message)


def to_message(conf: SlackSettings, f: SlackFields) -> InboundMessage:
    text = f.text
    if f.urgency and f.urgency != "normal":
        text = f"Urgency: {f.urgency}\n\n{text}"
    if f.permalink:
        text = f"{text}\n\nFrom Slack: {f.permalink}"
    if f.extra.get("sent_by") and f.extra["sent_by"] != f.user:
        text = f"{text}\nSent to the help desk by Slack user {f.extra['sent_by']}"
    first_line = f.text.split("\n", 1)[0].strip()
    subject = first_line[:SUBJECT_LEN] or (f.category or "Slack request")
    files = tuple(
        Attachment(
            filename=x.name[:200],
            content_type=x.mimetype,
            size=x.size,
            sha256="",
            kept=False,
            reason=f"kept in Slack: {x.permalink}" if x.permalink else "kept in Slack",
        )
        for x in f.files
    )
    threaded = f.kind in ("dm", "mention", "thread_reply")
    return InboundMessage(
        id=new_id(),
        channel="slack",
        account=f.team,
        provider_id=f.provider_id,
        sender=f.user,
        requester=Requester(
            handles={"slack": f"{f.team}/{f.user}"}, role="staff", campus=f.school, locale=conf.language
        ),
        subject=subject,
        text=text[:MAX_TEXT_LEN],
        full_text=text[:MAX_TEXT_LEN],
        language=conf.language,
        category=f.category,
        campus=f.school,
        attachments=files,
        thread_hints=ThreadHints(
            conversation_id=f"{f.team}:{f.channel}", thread_ts=f.thread_root if threaded else None
        ),
    )
