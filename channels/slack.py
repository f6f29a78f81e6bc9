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
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import redis.asyncio as aioredis
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import build_normalized_headers, extract_content_type
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import Received
from channels.slack_verify import Workspace, owner, verify, workspaces
from gateway.errors import NotFound, Unauthorized
from gateway.ids import new_id
from gateway.intake.pipeline import Pipeline
from gateway.models import Attachment, InboundMessage, Reply, Requester, ThreadHints
from gateway.server.http import AckResponse, InboundRequest
from gateway.settings import Settings, SlackSettings
from gateway.store.blobs import BlobStore
from gateway.store.commit import CommitResult
from normalizers.slack import Ignored, SlackFields, event_fields, team_of

log = logging.getLogger("intake.channels.slack")

SUBJECT_LEN = 80


class _NoBodies(logging.Filter):
    """Bolt logs request bodies (unhandled requests, listener errors, debug answers): keep only that it spoke."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        error = record.exc_info[1] if record.exc_info else None
        record.msg = "slack framework reported a problem"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.error = type(error).__name__ if error else ""
        return True


def bolt_logger() -> logging.Logger:
    """The base logger bolt copies its level and filters from, for every logger it makes."""
    logger = logging.getLogger("intake.slack.bolt")
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, _NoBodies) for f in logger.filters):
        logger.addFilter(_NoBodies())
    # slack_sdk logs each API call's arguments (message text, tokens in headers) at DEBUG.
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    return logger


@dataclass
class Collected:
    """What bolt's listeners found in one request: messages to commit, and why anything was ignored."""

    workspace: Workspace
    messages: list[tuple[InboundMessage, bool]] = field(default_factory=list)  # (message, only if threaded)
    ignored: list[str] = field(default_factory=list)
    handled: bool = False


def parse_body(raw: bytes, content_type: str) -> dict[str, object] | None:
    """The payload as a dict: JSON (Events API), a form (slash command), or a form's `payload` JSON."""
    try:
        text = raw.decode("utf-8")
        if "json" in content_type or text.lstrip().startswith("{"):
            body = json.loads(text)
        else:
            form = parse_qs(text, keep_blank_values=True)
            body = json.loads(form["payload"][0]) if "payload" in form else {k: v[0] for k, v in form.items()}
    except (UnicodeDecodeError, ValueError, KeyError, IndexError):
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


class SlackChannel:
    name = "slack"
    max_text_len = 40_000
    rate_per_sec = 1.0  # chat.postMessage, per Slack channel

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        from channels.slack_listeners import register  # the listeners need this class's Collected

        self.settings = settings
        self.conf: SlackSettings = settings.channels.slack
        self.known = workspaces(self.conf)
        self.redis: aioredis.Redis | None = None
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
        register(self)

    def to_message(self, f: SlackFields) -> InboundMessage:
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
                handles={"slack": f"{f.team}/{f.user}"}, role="staff", campus=f.school, locale=self.conf.language
            ),
            subject=subject,
            text=text[: self.max_text_len],
            full_text=text[: self.max_text_len],
            language=self.conf.language,
            category=f.category,
            campus=f.school,
            attachments=files,
            thread_hints=ThreadHints(
                conversation_id=f"{f.team}:{f.channel}", thread_ts=f.thread_root if threaded else None
            ),
        )

    def collect(self, collected: Collected, result: SlackFields | Ignored) -> None:
        collected.handled = True
        if isinstance(result, Ignored):
            collected.ignored.append(result.reason)
            return
        collected.messages.append((self.to_message(result), result.kind == "thread_reply"))

    async def dispatch(self, req: InboundRequest) -> tuple[Collected | None, list[str], AckResponse]:
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
        collected = Collected(ws)
        resp = await self.bolt.async_dispatch(bolt_request(req, body, collected))
        if resp.status == 404 and not collected.handled:
            # No listener for this kind of payload: answering 404 or 500 would make Slack retry it forever.
            why = event_fields(body)
            reason = (
                why.reason if isinstance(why, Ignored) and body.get("type") == "event_callback" else "unhandled_type"
            )
            return collected, [reason], AckResponse(status=200)
        return collected, collected.ignored, to_ack(resp)

    async def handle(self, req: InboundRequest, pipeline: Pipeline, client: aioredis.Redis) -> AckResponse:
        """The whole request: verify, normalize, commit every message, then answer as bolt answered."""
        self.redis = client
        collected, ignored, ack = await self.dispatch(req)
        for reason in ignored:
            pipeline.metrics.ignored.labels("slack", reason).inc()
        for message, only_if_threaded in collected.messages if collected else []:
            if only_if_threaded:
                if await pipeline.accept_if_threaded(message, req.raw_body) is None:
                    pipeline.metrics.ignored.labels("slack", "not_our_thread").inc()
            else:
                await pipeline.accept(message, req.raw_body)
        return ack

    async def receive(self, req: InboundRequest) -> Received:
        """Not used: a thread reply is committed only when its thread is ours, which `handle` decides."""
        raise NotFound("Slack posts to /hooks/slack/events, /hooks/slack/commands or /hooks/slack/interactive")

    def acknowledge(self, req: InboundRequest, received: Received, results: list[CommitResult]) -> AckResponse:
        return received.ack

    def deliver(self, reply: Reply) -> str:
        """Slack replies are posted by workers.slack_replies (paced per Slack channel, retried, deduplicated)."""
        return f"slack:{reply.conversation}"
