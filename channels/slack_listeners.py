"""Bolt listeners of the Slack channel. They normalize and collect; they never commit and never call Slack.

Calls to Slack that a person is waiting for (opening the modal, the status answer) are bolt lazy
listeners: with process_before_response they start only once the request has been answered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack_views import request_modal
from gateway import keys
from gateway.redis_conn import text
from gateway.templating import TemplateMissing, render_reply, reply_env
from normalizers.slack import (
    MODAL_CALLBACK,
    SHORTCUT_CALLBACK,
    STATUS_ACTION,
    command_fields,
    event_fields,
    shortcut_fields,
    status_action,
    view_fields,
)

if TYPE_CHECKING:
    from channels.slack import SlackChannel

log = logging.getLogger("intake.channels.slack")


def register(channel: SlackChannel) -> None:
    app = channel.bolt
    conf = channel.conf
    webform = channel.settings.channels.webform

    async def on_event(body: dict[str, Any], context: dict[str, Any]) -> None:
        collected = context["intake"]
        channel.collect(collected, event_fields(body, collected.workspace.bot_user_id))

    app.event("message")(on_event)
    app.event("app_mention")(on_event)

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
        channel.collect(context["intake"], view_fields(body))
        await ack()  # an empty answer closes the modal

    app.view(MODAL_CALLBACK)(on_submission)

    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], context: dict[str, Any]) -> None:
        channel.collect(context["intake"], shortcut_fields(body))
        await ack()

    app.shortcut(SHORTCUT_CALLBACK)(on_shortcut)

    async def show_status(body: dict[str, Any], client: AsyncWebClient) -> None:
        conv_id = status_action(body)
        user = body.get("user", {}).get("id", "")
        where = (body.get("channel") or {}).get("id", "")
        if not (conv_id and user and where and channel.redis is not None):
            return
        raw = await channel.redis.hgetall(keys.conversation(conv_id))
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
