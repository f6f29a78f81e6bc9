"""Slack request signatures (v0): checked on the raw bytes, before anything is parsed.

Slack signs `v0:<X-Slack-Request-Timestamp>:<raw body>` with HMAC-SHA256 under the app's signing
secret and sends `v0=<hex>` in X-Slack-Signature. A request older (or newer) than five minutes is a
replay. With several workspaces every configured secret is tried, each compared in constant time,
and the caller then checks that the body's team belongs to a workspace whose secret matched.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field

from gateway.errors import Unauthorized
from gateway.settings import SlackSettings

MAX_SKEW_S = 5 * 60


@dataclass(frozen=True)
class Workspace:
    """One set of Slack credentials. `team` empty: whichever team this app's secret signs for."""

    team: str
    secret: bytes
    token: str
    bot_user_id: str
    # The keyed HMAC state, made once: each request only copies it.
    mac: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mac", hmac.new(self.secret, digestmod=hashlib.sha256))

    def sign(self, timestamp: str, body: bytes) -> str:
        m = self.mac.copy()
        m.update(b"v0:" + timestamp.encode() + b":")
        m.update(body)
        return "v0=" + m.hexdigest()


def workspaces(conf: SlackSettings) -> list[Workspace]:
    out = [
        Workspace(team, ws.signing_secret.get_secret_value().encode(), ws.bot_token.get_secret_value(), ws.bot_user_id)
        for team, ws in conf.workspaces.items()
    ]
    if conf.bot_token.get_secret_value():
        out.append(
            Workspace(
                conf.team_id,
                conf.signing_secret.get_secret_value().encode(),
                conf.bot_token.get_secret_value(),
                conf.bot_user_id,
            )
        )
    return out


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def verify(
    known: list[Workspace], timestamp: str | None, presented: str | None, body: bytes, now: float | None = None
) -> list[Workspace]:
    """The workspaces whose secret signed this body (at least one), or Unauthorized naming what was wrong."""
    if not timestamp or not presented:
        raise Unauthorized("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise Unauthorized("X-Slack-Request-Timestamp is not a number of seconds")
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SKEW_S:
        raise Unauthorized("X-Slack-Request-Timestamp is more than five minutes away")
    given = presented.encode()
    matched = []
    # Every secret is tried, so the time taken does not tell which workspace (if any) came close.
    for ws in known:
        if hmac.compare_digest(given, ws.sign(timestamp, body).encode()):
            matched.append(ws)
    if not matched:
        raise Unauthorized("X-Slack-Signature does not match")
    return matched


def owner(matched: list[Workspace], team: str, enterprise: str = "") -> Workspace | None:
    """The workspace a signed payload belongs to: its team (or Grid enterprise) pinned, else an unpinned one."""
    for ws in matched:
        if ws.team and ws.team in (team, enterprise):
            return ws
    return next((ws for ws in matched if not ws.team), None)
