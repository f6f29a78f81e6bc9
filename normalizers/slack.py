"""Pure functions: Slack payloads (Events API, slash commands, interactivity) -> the fields of a request.

Nothing here does I/O. Each function answers either the fields of a request or an `Ignored` with the
reason, which becomes the `reason` label of intake_ignored_total. The payload shapes are recorded in
tests/payloads/slack/ (NOTES.md there says which Slack documentation page each comes from).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from normalizers.text import clean_text

Kind = Literal["dm", "mention", "thread_reply", "modal", "shortcut"]

# Message subtypes that are a person writing (or sharing a file). Every other subtype is an edit, a
# deletion, a join, a bot post... and never a request.
PERSON_SUBTYPES = {None, "file_share", "thread_broadcast"}
URGENCIES = ("low", "normal", "high", "urgent")
# Slack shares at most 10 files in one message; a body listing thousands is not a person's message (1 MB listed
# 6,000, each a line on the ticket and in the job).
MAX_FILES = 20

STATUS_ACTION = "intake_status"
MODAL_CALLBACK = "intake_request"
SHORTCUT_CALLBACK = "send_to_help_desk"

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]+)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)[^>]*>")


@dataclass(frozen=True)
class SlackFile:
    name: str
    mimetype: str
    size: int
    permalink: str


@dataclass(frozen=True)
class SlackFields:
    kind: Kind
    team: str
    channel: str
    user: str
    provider_id: str  # event_id, or the trigger/view id of an interaction: the dedupe identity within the team
    text: str
    ts: str = ""
    thread_ts: str = ""
    files: tuple[SlackFile, ...] = ()
    category: str | None = None
    school: str | None = None
    urgency: str | None = None
    permalink: str = ""
    enterprise: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def thread_root(self) -> str:
        """The ts our replies thread under: the thread the message is in, else the message itself."""
        return self.thread_ts or self.ts


@dataclass(frozen=True)
class Ignored:
    reason: str


def _str(d: Any, key: str) -> str:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, str) else ""


def slack_text(raw: str, bot_user: str = "") -> str:
    """Slack's mrkdwn markup -> plain text: our bot's mention removed, links and channel names readable."""
    out = _USER_MENTION.sub(lambda m: "" if m.group(1) == bot_user else f"@{m.group(1)}", raw)
    out = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), out)
    out = _CHANNEL.sub(lambda m: f"#{m.group(1)}", out)
    out = _SPECIAL.sub(lambda m: f"@{m.group(1)}", out)
    out = out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return clean_text(out)


def files_of(obj: Any) -> tuple[SlackFile, ...]:
    out: list[SlackFile] = []
    files = obj.get("files") if isinstance(obj, dict) else None
    for f in files if isinstance(files, list) else []:
        if len(out) == MAX_FILES:
            break
        if not isinstance(f, dict):
            continue
        size = f.get("size")
        out.append(
            SlackFile(
                name=_str(f, "name") or _str(f, "title") or _str(f, "id") or "file",
                mimetype=_str(f, "mimetype") or "application/octet-stream",
                size=size if isinstance(size, int) and size >= 0 else 0,
                permalink=_str(f, "permalink"),
            )
        )
    return tuple(out)


def bot_user_of(body: dict[str, Any]) -> str:
    """Our bot's user id, from the event's authorizations (the installation the event was sent to)."""
    auths = body.get("authorizations")
    if isinstance(auths, list):
        for a in auths:
            if isinstance(a, dict) and a.get("is_bot") and isinstance(a.get("user_id"), str):
                return str(a["user_id"])
    return ""


def team_of(body: dict[str, Any]) -> str:
    """The workspace a payload belongs to, wherever its kind of payload keeps it."""
    team = body.get("team_id") or body.get("team")
    if isinstance(team, dict):
        team = team.get("id")
    if not team:
        user = body.get("user")
        team = user.get("team_id") if isinstance(user, dict) else None
    return team if isinstance(team, str) else ""


def event_fields(body: dict[str, Any], own_user: str = "") -> SlackFields | Ignored:
    """An Events API envelope -> a request's fields, or why it makes none."""
    if body.get("type") != "event_callback":
        return Ignored("unknown_type")
    event = body.get("event")
    if not isinstance(event, dict):
        return Ignored("missing_event")
    kind = event.get("type")
    if kind not in ("message", "app_mention"):
        return Ignored("unhandled_event")
    event_id = _str(body, "event_id")
    team = team_of(body)
    channel, user, ts = _str(event, "channel"), _str(event, "user"), _str(event, "ts")
    if not (event_id and team and channel and ts):
        return Ignored("missing_field")
    bot_user = bot_user_of(body) or own_user
    subtype = event.get("subtype")
    if event.get("bot_id") or subtype == "bot_message" or (user and user in {bot_user, own_user}):
        return Ignored("own_or_bot_message")
    if not isinstance(subtype, str | None) or subtype not in PERSON_SUBTYPES or not user:  # a list is unhashable
        return Ignored("not_a_person_writing")
    thread_ts = _str(event, "thread_ts")
    raw = _str(event, "text")
    if kind == "app_mention":
        fkind: Kind = "mention"
    elif event.get("channel_type") == "im":
        fkind = "dm"
    elif thread_ts and thread_ts != ts:
        if bot_user and f"<@{bot_user}" in raw:
            return Ignored("mention_counted_once")  # the app_mention event of the same message makes it
        fkind = "thread_reply"
    else:
        return Ignored("channel_chatter")
    text = slack_text(raw, bot_user)
    files = files_of(event)
    if not text and not files:
        return Ignored("empty")
    return SlackFields(
        kind=fkind,
        team=team,
        channel=channel,
        user=user,
        provider_id=event_id,
        text=text,
        ts=ts,
        thread_ts=thread_ts if thread_ts != ts else "",
        files=files,
        enterprise=_str(body, "enterprise_id"),
    )


def command_fields(form: dict[str, Any]) -> dict[str, str]:
    """A slash command's form fields we use: who, where, the text typed after the command, the trigger."""
    return {k: _str(form, k) for k in ("team_id", "user_id", "channel_id", "text", "trigger_id", "command")}


def _action(values: dict[str, Any], block: str) -> dict[str, Any]:
    b = values.get(block)
    a = b.get(block) if isinstance(b, dict) else None
    return a if isinstance(a, dict) else {}


def _selected(values: dict[str, Any], block: str) -> str | None:
    option = _action(values, block).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


def view_fields(payload: dict[str, Any]) -> SlackFields | Ignored:
    """The request modal's view_submission -> a request's fields. Block ids equal action ids (see slack_views)."""
    view = payload.get("view")
    if not isinstance(view, dict) or view.get("callback_id") != MODAL_CALLBACK:
        return Ignored("unknown_view")
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return Ignored("missing_field")
    user = payload.get("user")
    user_id = _str(user, "id")
    description = _str(_action(values, "description"), "value")
    files_action = _action(values, "attachments")
    urgency = _selected(values, "urgency")
    team = team_of(payload)
    if not (team and user_id and _str(view, "id")):
        return Ignored("missing_field")
    return SlackFields(
        kind="modal",
        team=team,
        channel=user_id,  # replies go to the requester's DM with the app
        user=user_id,
        provider_id=f"view:{_str(view, 'id')}",
        text=clean_text(description),
        files=files_of(files_action),
        category=_selected(values, "category"),
        school=_selected(values, "school"),
        urgency=urgency if urgency in URGENCIES else None,
        enterprise=_str(payload.get("enterprise"), "id"),
    )


def permalink_for(domain: str, channel: str, ts: str) -> str:
    """Slack's documented permalink shape: https://<domain>.slack.com/archives/<channel>/p<ts without the dot>."""
    if not (domain and channel and ts):
        return ""
    return f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"


def shortcut_fields(payload: dict[str, Any]) -> SlackFields | Ignored:
    """A message shortcut: the message it was used on becomes a request for the message's author."""
    if payload.get("callback_id") != SHORTCUT_CALLBACK:
        return Ignored("unknown_shortcut")
    message = payload.get("message")
    if not isinstance(message, dict):
        return Ignored("missing_field")
    if message.get("bot_id") or message.get("subtype") == "bot_message":
        return Ignored("own_or_bot_message")
    channel = _str(payload.get("channel"), "id")
    author = _str(message, "user")
    ts = _str(message, "ts")
    team = team_of(payload)
    trigger = _str(payload, "trigger_id")
    if not (team and channel and author and ts and trigger):
        return Ignored("missing_field")
    text = slack_text(_str(message, "text"))
    files = files_of(message)
    if not text and not files:
        return Ignored("empty")
    return SlackFields(
        kind="shortcut",
        team=team,
        channel=author,  # the author hears back in their DM with the app, not in the public channel
        user=author,
        # One request per message, however many people use the shortcut on it.
        provider_id=f"shortcut:{channel}:{ts}",
        text=text,
        ts=ts,
        files=files,
        permalink=permalink_for(_str(payload.get("team"), "domain"), channel, ts),
        enterprise=_str(payload.get("enterprise"), "id"),
        extra={"sent_by": _str(payload.get("user"), "id"), "source_channel": channel},
    )


def status_action(payload: dict[str, Any]) -> str | None:
    """The request id carried by our acknowledgement's status button, if this block_actions is that button."""
    actions = payload.get("actions")
    if not isinstance(actions, list):
        return None
    for a in actions:
        if isinstance(a, dict) and a.get("action_id") == STATUS_ACTION and isinstance(a.get("value"), str):
            return str(a["value"])
    return None


SURVEY_ACTION = "intake_survey_"  # + the rating: one button per rating on a survey post
SURVEY_CALLBACK = "intake_survey_comment"


def survey_action(payload: dict[str, Any]) -> tuple[str, int] | None:
    """(conversation, rating) of a click on a survey post's buttons; None for any other block action.

    The rating is read from the button's value, not its action id: `<conversation>.<rating>`."""
    actions = payload.get("actions")
    for a in actions if isinstance(actions, list) else []:
        if not (isinstance(a, dict) and str(a.get("action_id", "")).startswith(SURVEY_ACTION)):
            continue
        conv, _, rating = _str(a, "value").rpartition(".")
        if conv and rating.isascii() and rating.isdigit() and len(rating) <= 3:  # int() refuses '²'; bounded
            return conv, int(rating)
    return None


def survey_comment(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(conversation, comment) of the survey's comment modal submission; None for any other view."""
    view = payload.get("view")
    if not isinstance(view, dict) or view.get("callback_id") != SURVEY_CALLBACK:
        return None
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    conv = _str(view, "private_metadata")
    if not conv or not isinstance(values, dict):
        return None
    return conv, (_str(_action(values, "comment"), "value") or "").strip()
