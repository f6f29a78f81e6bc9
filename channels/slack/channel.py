"""The Slack channel: Events API, the slash command and interactivity in, through a slack-bolt AsyncApp.

The request path: verify the v0 signature on the raw bytes (every configured workspace's secret,
in constant time), check the body's team belongs to a workspace whose secret matched, then hand
the same raw body to bolt. Bolt runs with process_before_response, so its listeners (which only
normalize) have finished when it returns; the messages they collected are committed, and only then
does Slack get bolt's answer. Outbound calls (views.open for the modal, the ephemeral status
answer) run in bolt's lazy listeners, after the answer; replies and users.info run in workers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from urllib.parse import parse_qs

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import build_normalized_headers, extract_content_type
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import BaseChannel, HookContext, HookRoute, Received, WorkerServices
from channels.slack.api import workspace_checks
from channels.slack.collect import MAX_TEXT_LEN, Collected
from channels.slack.identity import with_slack_identity
from channels.slack.listeners import register
from channels.slack.logs import bolt_logger
from channels.slack.replies import send_slack_reply, slack_held_back
from channels.slack.verify import owner, verify, workspaces
from gateway.errors import Unauthorized
from gateway.models import Commitment, Reply
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import Settings, SlackSettings
from gateway.store.blobs import BlobStore
from normalizers.slack import Ignored, event_fields, team_of

log = logging.getLogger("intake.channels.slack")

PATHS = ("/hooks/slack/events", "/hooks/slack/commands", "/hooks/slack/interactive")


def parse_body(raw: bytes, content_type: str) -> dict[str, object] | None:
    """The payload as a dict: JSON (Events API), a form (slash command), or a form's `payload` JSON."""
    try:
        text = raw.decode("utf-8")
        if "json" in content_type or text.lstrip().startswith("{"):
            body = json.loads(text)
        else:
            form = parse_qs(text, keep_blank_values=True)
            body = json.loads(form["payload"][0]) if "payload" in form else {k: v[0] for k, v in form.items()}
    except (UnicodeDecodeError, ValueError, KeyError, IndexError, RecursionError):  # RecursionError: nested too deep
        return None
    return body if isinstance(body, dict) else None


def bolt_request(req: InboundRequest, body: dict[str, object], collected: Collected) -> AsyncBoltRequest:
    """Bolt's request; a body bolt would parse as JSON is handed over already parsed.

    For such a body (bolt's test: content type exactly application/json, or a body starting with `{`)
    parse_body ran the same json.loads on the same text, so the dict is the one bolt would make. Bolt
    takes a dict only with mode="socket_mode", which changes nothing else here: it skips bolt's
    request verification (off: verified above) and lets a lazy listener copy the dict instead of
    parsing again. Any other body goes to bolt as text, to be parsed by bolt's own rules as before.
    """
    headers = build_normalized_headers(dict(req.headers))
    context: dict[str, object] = {"intake": collected}
    if extract_content_type(headers) == "application/json" or req.raw_body.startswith(b"{"):
        return AsyncBoltRequest(body=body, query=req.query, headers=headers, context=context, mode="socket_mode")
    return AsyncBoltRequest(body=req.raw_body.decode("utf-8"), query=req.query, headers=headers, context=context)


def to_ack(resp: BoltResponse) -> AckResponse:
    ctype = (resp.headers.get("content-type") or ["text/plain"])[0].split(";", 1)[0]
    return AckResponse(status=resp.status, body=resp.body.encode(), content_type=ctype)


class _Authorize(AsyncAuthorize):
    """The workspace was decided from the signature and the team before bolt saw the request: no API call.

    An AsyncAuthorize object, not a function: bolt calls it directly instead of injecting keyword arguments.
    """

    def __init__(self) -> None:  # AsyncAuthorize's own is untyped and does nothing
        pass

    async def __call__(self, *, context: AsyncBoltContext, **_: str | None) -> AuthorizeResult:
        collected = context["intake"]
        assert isinstance(collected, Collected)
        ws = collected.workspace
        return AuthorizeResult(
            enterprise_id=None, team_id=ws.team or None, bot_token=ws.token, bot_user_id=ws.bot_user_id or None
        )


class SlackChannel(BaseChannel):
    name = "slack"
    max_text_len = MAX_TEXT_LEN
    rate_per_sec = 1.0  # chat.postMessage, per Slack channel

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        super().__init__(settings, blobs)
        self.conf: SlackSettings = settings.channels.slack
        self.known = workspaces(self.conf)
        self.bolt = AsyncApp(
            name="intake.slack.app",  # bolt sets this logger's level: never the whole intake tree
            logger=bolt_logger(),
            process_before_response=True,
            # Verified here before bolt sees the body: bolt knows one secret, we have one per workspace.
            request_verification_enabled=False,
            # normalizers.slack drops our own posts itself, so each one is counted in intake_ignored_total.
            ignoring_self_events_enabled=False,
            ignoring_self_assistant_message_events_enabled=False,
            # Assistant threads and workflow steps are not ours: their middleware only costs time per request.
            attaching_conversation_kwargs_enabled=False,
            attaching_function_token_enabled=False,
            authorize=_Authorize(),
            client=AsyncWebClient(base_url=self.conf.api_url),
        )
        register(self.bolt, self.conf, settings.channels.webform)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.channels.slack.enabled

    @classmethod
    def doctor_checks(cls, settings: Settings) -> list[tuple[str, bool, str]]:
        """Each workspace's bot token works and belongs to the team it is filed under (auth.test)."""
        return workspace_checks(settings.channels.slack)

    def routes(self) -> Sequence[HookRoute]:
        return [HookRoute("POST", path) for path in PATHS]

    async def dispatch(self, req: InboundRequest, hook: HookContext) -> tuple[Collected | None, list[str], AckResponse]:
        """Verify, then run bolt. Returns what the listeners collected, ignore reasons, and bolt's answer."""
        stamp, signature = req.header("x-slack-request-timestamp"), req.header("x-slack-signature")
        matched = verify(self.known, stamp, signature, req.raw_body)
        body = parse_body(req.raw_body, req.header("content-type") or "")
        if body is None:
            return None, ["malformed"], AckResponse(status=200)
        if body.get("type") == "url_verification" or body.get("ssl_check") == "1":
            ws = matched[0]  # Slack checking the endpoint: carries no team, and proves only that one of our apps signed
        else:
            team = team_of(body)
            enterprise = body.get("enterprise_id") or ""
            found = owner(matched, team, enterprise if isinstance(enterprise, str) else "")
            if found is None:
                # The team id is an identifier of the workspace, not personal data: safe to log.
                log.warning("slack request from a workspace that is not configured", extra={"team": team or "(none)"})
                raise Unauthorized("this Slack workspace is not configured")
            ws = found
        collected = Collected(ws, self.conf, hook.redis, settings=self.settings)
        try:
            request = bolt_request(req, body, collected)
        except (TypeError, AttributeError, KeyError, IndexError, ValueError):
            # Bolt reads the ids of its context from the payload as Slack shapes them (`authorizations[0]`, a team,
            # a user): one of another shape is no payload Slack sends. A 500 would be retried for hours.
            return None, ["malformed"], AckResponse(status=200)
        resp = await self.bolt.async_dispatch(request)
        if resp.status == 404 and not collected.handled:
            # No listener for this kind of payload: answering 404 or 500 would make Slack retry it forever.
            why = event_fields(body)
            reason = (
                why.reason if isinstance(why, Ignored) and body.get("type") == "event_callback" else "unhandled_type"
            )
            return collected, [reason], AckResponse(status=200)
        if resp.status >= 500:
            # Bolt's matching or a listener raised on this payload (bolt logs which, without the body). Our listeners
            # only read it, so a retry fails the same way: whatever was read is kept, the rest counted as malformed.
            return collected, [*collected.ignored, "malformed"], AckResponse(status=200)
        return collected, collected.ignored, to_ack(resp)

    async def receive(self, req: InboundRequest, hook: HookContext) -> Received:
        """Verify, normalize through bolt's listeners, and answer as bolt answered (after the commit)."""
        collected, ignored, ack = await self.dispatch(req, hook)
        if collected is None:
            return Received((), ack, ignored=ignored)
        return Received(collected.messages, ack, threaded_only=collected.threaded_only, ignored=ignored)

    def deliver(self, reply: Reply, key: str, svc: WorkerServices) -> str:
        """Post in the request's thread: paced per Slack channel, retried, never twice (channels/slack/replies.py)."""
        return send_slack_reply(svc.redis, svc.settings, reply, key)

    def held_back(self, reply: Reply, svc: WorkerServices) -> str:
        return slack_held_back(svc.redis, svc.settings, reply)

    def prepare(self, commitment: Commitment, svc: WorkerServices) -> Commitment:
        """Who asked: the requester's name, email and language from their Slack profile."""
        return with_slack_identity(svc.redis, svc.settings, commitment)
