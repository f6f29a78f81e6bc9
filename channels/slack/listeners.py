"""Bolt listeners of the Slack channel. They normalize and collect; they never commit and never call Slack.

Calls to Slack that a person is waiting for (opening the modal, the status answer) are bolt lazy
listeners: with process_before_response they start only once the request has been answered.

Messages (the Events API's `message` and `app_mention`, nearly every request we get) are taken by a
class-based bolt middleware placed after bolt's own (authorization, url_verification) instead of an
`app.event` listener: bolt calls a middleware object directly, where a listener costs a matcher
call, a listener run and two rounds of keyword-argument injection per event. It answers exactly as
the auto-acknowledged listener did (200, empty body); every other request goes on to the listeners.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack import survey
from channels.slack.collect import Collected
from channels.slack.views import request_modal
from gateway import keys
from gateway.outbox.templating import TemplateMissing, render_reply, reply_env
from gateway.settings import SlackSettings, WebformSettings
from gateway.store.redis_conn import text
from normalizers.slack import (
    MODAL_CALLBACK,
    SHORTCUT_CALLBACK,
    STATUS_ACTION,
    SURVEY_ACTION,
    SURVEY_CALLBACK,
    command_fields,
    event_fields,
    shortcut_fields,
    status_action,
    view_fields,
)

log = logging.getLogger("intake.channels.slack")

MESSAGE_EVENTS = ("message", "app_mention")


class MessageEvents(AsyncMiddleware):
    """The `message` and `app_mention` listener, as a middleware: normalize, collect, answer 200."""

    def __init__(self) -> None:  # AsyncMiddleware's own is untyped and does nothing
        pass

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        body = req.body
        event = body.get("event")
        # The same test as bolt's event matcher; bolt's lazy-only re-invocation never runs an ack listener.
        if (
            body.get("type") != "event_callback"
            or not isinstance(event, dict)
            or event.get("type") not in MESSAGE_EVENTS
            or req.lazy_only
        ):
            return await next()
        collected = req.context["intake"]
        assert isinstance(collected, Collected)
        collected.add(event_fields(body, collected.workspace.bot_user_id))
        return BoltResponse(status=200, body="")


def register(app: AsyncApp, conf: SlackSettings, webform: WebformSettings) -> None:
    app.use(MessageEvents())

    async def ack_now(ack: AsyncAck) -> None:
        await ack()

    async def open_modal(body: dict[str, Any], client: AsyncWebClient) -> None:
        f = command_fields(body)
        view = request_modal(webform.categories, webform.schools, conf.language, f["text"], f["channel_id"])
        try:
            await client.views_open(trigger_id=f["trigger_id"], view=view)
        except SlackApiError as exc:
            log.warning("views.open failed", extra={"error": str(exc.response.get("error", ""))})

    app.command(conf.command)(ack=ack_now, lazy=[open_modal])

    async def on_submission(ack: AsyncAck, body: dict[str, Any], context: dict[str, Any]) -> None:
        context["intake"].add(view_fields(body))
        await ack()  # an empty answer closes the modal

    app.view(MODAL_CALLBACK)(on_submission)

    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], context: dict[str, Any]) -> None:
        context["intake"].add(shortcut_fields(body))
        await ack()

    app.shortcut(SHORTCUT_CALLBACK)(on_shortcut)

    async def show_status(body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]) -> None:
        conv_id = status_action(body)
        user = body.get("user", {}).get("id", "")
        where = (body.get("channel") or {}).get("id", "")
        redis = context["intake"].redis
        if not (conv_id and user and where and redis is not None):
            return
        raw = await redis.hgetall(keys.conversation(conv_id))
        conv = {text(k): text(v) for k, v in raw.items()}
        if conv.get("account") != body.get("team", {}).get("id"):
            return  # a button from another workspace never reads this one's requests
        values = {"ticket": conv.get("ticket_ref", "?"), "status": conv.get("status", "received"), "comment": "",
                  "category": conv.get("category", ""), "reference": "", "status_url": ""}  # fmt: skip
        language = conv.get("language", conf.language)
        try:
            rendered = render_reply(reply_env(), "status_changed", "slack", language, conf.language, values)
        except TemplateMissing:
            return
        try:
            await client.chat_postEphemeral(channel=where, user=user, text=rendered.text)
        except SlackApiError as exc:
            log.warning("chat.postEphemeral failed", extra={"error": str(exc.response.get("error", ""))})

    app.action(STATUS_ACTION)(ack=ack_now, lazy=[show_status])
    # A survey's buttons and its comment modal (channels/slack/survey.py).
    app.action(re.compile("^" + re.escape(SURVEY_ACTION) + "[0-9]$"))(ack=ack_now, lazy=[survey.rate])
    app.view(SURVEY_CALLBACK)(survey.comment)
