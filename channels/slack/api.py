"""Calling the Slack Web API from a worker: the workspace's client, pacing per Slack channel, 429 honoured.

Pacing is shared through Redis, so every worker process respects chat.postMessage's limit of about
one message per second per channel: a worker may post only after it wins a short-lived key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from channels.slack.logs import bolt_logger
from channels.slack.verify import Workspace, workspaces
from gateway import keys
from gateway.settings import SlackSettings

log = logging.getLogger("intake.slack.out")

PACE_WAIT_MAX_S = 120.0
RATE_LIMIT_TRIES = 5
API_TIMEOUT_S = 10


class SlackUnavailable(Exception):
    """Slack kept refusing (429 past our patience, or 5xx): the job is retried, then dead-lettered."""


def workspace_for(conf: SlackSettings, team: str) -> Workspace | None:
    known = workspaces(conf)
    return next((w for w in known if w.team == team), None) or next((w for w in known if not w.team), None)


def client_for(conf: SlackSettings, ws: Workspace) -> WebClient:
    bolt_logger()  # quiets slack_sdk's DEBUG logging of call arguments in this process too
    return WebClient(token=ws.token, base_url=conf.api_url, timeout=API_TIMEOUT_S)


def pace(r: redis.Redis, team: str, channel: str, interval_s: float) -> None:
    """Wait for this Slack channel's turn (shared by every worker through one Redis key)."""
    if interval_s <= 0:
        return
    key = keys.slack_pace(team, channel)
    deadline = time.monotonic() + PACE_WAIT_MAX_S
    while not r.set(key, "1", nx=True, px=max(1, int(interval_s * 1000))):
        if time.monotonic() > deadline:
            raise SlackUnavailable("waited too long for the channel's turn")
        wait_ms = r.pttl(key)
        time.sleep(min(max(int(wait_ms), 5), 5000) / 1000)


def call(
    r: redis.Redis, conf: SlackSettings, team: str, where: str, fn: Callable[..., SlackResponse], /, **kwargs: Any
) -> SlackResponse:
    """One paced Web API call. A 429 is waited out (Retry-After, told to every worker); 5xx raises to retry."""
    for _ in range(RATE_LIMIT_TRIES):
        pace(r, team, where, conf.channel_interval_s)
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            if status == 429:
                retry_after = min(float(exc.response.headers.get("Retry-After", "1") or 1), conf.max_retry_after_s)
                # Every worker waits: the limit is Slack's, per channel, not per process.
                r.set(keys.slack_pace(team, where), "429", px=max(1, int(retry_after * 1000)))
                log.info("slack asked us to wait", extra={"retry_after_s": retry_after})
                continue
            if status >= 500:
                raise SlackUnavailable(f"slack answered {status}") from None
            raise
    raise SlackUnavailable("still rate limited after several waits")


def workspace_checks(conf: SlackSettings) -> list[tuple[str, bool, str]]:
    """For `intake doctor`: each workspace's token works (auth.test) and belongs to the team it is filed under."""
    out = []
    for ws in workspaces(conf):
        name = f"slack {ws.team or 'workspace'}"
        try:
            resp = WebClient(token=ws.token, base_url=conf.api_url, timeout=API_TIMEOUT_S).auth_test()
        except SlackApiError as exc:
            out.append((name, False, f"auth.test refused the bot token ({exc.response.get('error', 'error')})"))
            continue
        except OSError as exc:
            out.append((name, False, f"Slack unreachable ({type(exc).__name__})"))
            continue
        team = str(resp.get("team_id") or "")
        if ws.team and team != ws.team:
            out.append((name, False, f"the bot token belongs to team {team}, not {ws.team}"))
        else:
            out.append((name, True, f"bot token works in team {team}"))
    return out
