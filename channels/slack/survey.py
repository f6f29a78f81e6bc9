"""A survey in a Slack thread: five buttons on the post, then an optional comment in a modal.

A click stores the rating (once per survey, like a link's: the same Lua script) and opens the comment modal; a
click on a survey already answered, or closed, is told so privately. The modal's submission attaches the comment,
once; one that is too long is refused in the modal itself, naming the limit. A button from another workspace
reads nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from redis.exceptions import RedisError
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from gateway import keys
from gateway.models import utcnow
from gateway.settings import Settings
from gateway.store.redis_conn import sync_client
from gateway.surveys import record
from gateway.surveys.notes import note_answer
from normalizers.slack import SURVEY_ACTION, SURVEY_CALLBACK, survey_action, survey_comment

log = logging.getLogger("intake.channels.slack")

LABELS = {5: "5 Very good", 4: "4 Good", 3: "3 Okay", 2: "2 Poor", 1: "1 Very poor"}
REFUSED = {
    "already_answered": "We already have your answer to this survey and kept the first one. Thank you!",
    "already_commented": "We already have your comment on this survey. Thank you!",
    "not_answered": "Choose a rating first, with one of the buttons.",
    "expired": "This survey has closed. Thank you all the same.",
    "not_sent": "This survey is not open.",
    "no_survey": "This survey is not open.",
}


def survey_blocks(conv_id: str) -> dict[str, Any]:
    """The survey post's buttons, 5 (the best) first; each carries `<conversation>.<rating>`."""
    return {
        "type": "actions",
        "block_id": "intake_survey",
        "elements": [
            {"type": "button", "action_id": f"{SURVEY_ACTION}{n}", "value": f"{conv_id}.{n}",
             "text": {"type": "plain_text", "text": LABELS[n]}}
            for n in (5, 4, 3, 2, 1)
        ],
    }  # fmt: skip


def comment_modal(conv_id: str, rating: int, max_chars: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": SURVEY_CALLBACK,
        "private_metadata": conv_id,
        "title": {"type": "plain_text", "text": "Thank you"},
        "submit": {"type": "plain_text", "text": "Send comment"},
        "close": {"type": "plain_text", "text": "No comment"},
        "blocks": [
            {"type": "section", "text": {"type": "plain_text", "text": f"You rated this request {rating} out of 5."}},
            {"type": "input", "block_id": "comment", "optional": True,
             "label": {"type": "plain_text", "text": "Anything else you want to tell us?"},
             "element": {"type": "plain_text_input", "action_id": "comment", "multiline": True,
                         "max_length": max_chars}},
        ],
    }  # fmt: skip


def _limit(context: dict[str, Any]) -> int:
    settings: Settings | None = context["intake"].settings
    return settings.surveys.comment_max_chars if settings is not None else 1000


def _note_now(settings: Settings, conv_id: str, part: Literal["rating", "comment"]) -> None:
    client = sync_client(settings)  # a click is rare: a connection of its own, closed at once
    try:
        note_answer(client, settings, conv_id, part)
    finally:
        client.close()


async def _note(context: dict[str, Any], conv_id: str, part: Literal["rating", "comment"]) -> None:
    """Tell the ticket system (a job of its own, as for every other way of answering); never fails the click."""
    settings: Settings | None = context["intake"].settings
    if settings is None:
        return
    try:
        await asyncio.to_thread(_note_now, settings, conv_id, part)
    except (RedisError, OSError) as exc:
        log.warning("survey note not queued", extra={"error": type(exc).__name__, "conversation": conv_id})


async def rate(body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]) -> None:
    """A click on a survey button (a lazy listener: the click was answered already)."""
    clicked = survey_action(body)
    redis = context["intake"].redis
    if clicked is None or redis is None:
        return
    conv_id, rating = clicked
    account = await redis.hget(keys.conversation(conv_id), "account")
    if (account.decode() if isinstance(account, bytes) else account) != (body.get("team") or {}).get("id"):
        return  # a button from another workspace never answers this one's survey
    outcome = "no_survey"
    if rating in record.RATINGS:
        raw = await redis.eval(*record.answer_args(conv_id, rating, "slack", utcnow()))
        outcome = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        if outcome == "stored":
            log.info("survey answered", extra={"conversation": conv_id, "via": "slack", "rating": rating})
            await _note(context, conv_id, "rating")
            limit = _limit(context)
            await client.views_open(trigger_id=body.get("trigger_id", ""), view=comment_modal(conv_id, rating, limit))
            return
        where, user = (body.get("channel") or {}).get("id", ""), (body.get("user") or {}).get("id", "")
        await client.chat_postEphemeral(channel=where, user=user, text=REFUSED.get(outcome, REFUSED["no_survey"]))
    except SlackApiError as exc:
        log.warning("survey answer not shown", extra={"error": str(exc.response.get("error", ""))})


async def comment(ack: AsyncAck, body: dict[str, Any], context: dict[str, Any]) -> None:
    """The comment modal's submission: attached once; too long is refused in the modal, naming the limit."""
    found = survey_comment(body)
    redis = context["intake"].redis
    if found is None or redis is None or not found[1]:
        await ack()
        return
    conv_id, text = found
    limit = _limit(context)
    if len(text) > limit:
        await ack(response_action="errors", errors={"comment": f"Use at most {limit} characters."})
        return
    raw = await redis.eval(*record.comment_args(conv_id, text, utcnow()))
    outcome = raw.decode() if isinstance(raw, bytes) else str(raw)
    if outcome == "stored":
        log.info("survey commented", extra={"conversation": conv_id, "via": "slack"})
        await ack()
        await _note(context, conv_id, "comment")
        return
    await ack(response_action="errors", errors={"comment": REFUSED.get(outcome, "This survey is not open.")})
