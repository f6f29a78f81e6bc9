"""Modes of bench/intake_throughput.py: how to make signed requests for one channel, and how to configure the
gateway to accept them. A new mode is a `Mode` subclass registered in MODES.

The requests are made in advance and written to a file that bench/wrk_signed.lua replays, one each, so the
gateway never sees a repeat (it would answer 202 without committing anything).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.harness import DEFAULT_CONFIG, BenchError

# The targets: committed messages/s at least 15% of the bare app's requests/s, p99 under 50 ms.
TARGET_RATIO = 0.15
TARGET_P99_MS = 50.0


@dataclass(frozen=True, slots=True)
class SignedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class Mode(ABC):
    """One channel under load. A new mode = a subclass registered in MODES."""

    name: str
    path: str
    # The channel its requests are counted under in /metrics: the mode's own name unless a webhook serves several.
    channel: str = ""
    # Each channel's issue sets its own targets; the web form's are the defaults.
    target_ratio: float = TARGET_RATIO
    target_p99_ms: float = TARGET_P99_MS

    @abstractmethod
    def gateway_config(self) -> dict[str, Any]:
        """Overrides merged into config/gateway.yaml (e.g. the channel's signing secret)."""

    def gateway_env(self) -> dict[str, str]:
        """Extra environment for the gateway process (channels switched on by their secrets)."""
        return {}

    @abstractmethod
    def make(self, index: int, run_id: str) -> SignedRequest:
        """Request number `index`: distinct from every other index, so the gateway sees a new message."""


class WebformMode(Mode):
    """POST /hooks/webform, JSON, `X-Intake-Signature: t=<unix>,v1=<HMAC of "<t>.<raw body>">`: a distinct body
    each (a signed post is taken once per body)."""

    name = "webform"
    path = "/hooks/webform"
    secret = "bench-webform-secret-" + "5f0c2a"
    categories = ("transportation", "devices", "accounts", "internet", "enrollment", "other")
    schools = ("district", "lhs", "wms", "jes")

    def gateway_config(self) -> dict[str, Any]:
        return {
            "channels": {
                "webform": {"enabled": True, "sources": {"demo": {"token": "", "signing_secret": self.secret}}}
            },
            # wrk is one client: its limit is raised out of reach, but every post is still checked against it
            # and against its address's (each request names a new one), as in a deployment.
            "rate_limits": {"hook_per_client": "1000000/second"},
        }

    def make(self, index: int, run_id: str) -> SignedRequest:
        payload = {
            "name": f"Parent {index}",
            "email": f"parent{index}@example.org",
            "category": self.categories[index % len(self.categories)],
            "school": self.schools[index % len(self.schools)],
            "subject": f"Bench request {index}",
            "message": f"My child's laptop will not connect to the school Wi-Fi (bench {run_id} #{index}).",
            "language": "en",
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        # Signed at generation: the gateway takes a signature up to 300 s old, and a run's requests are made
        # just before its rounds (keep --rounds x (--warmup + --duration) well under five minutes).
        t = int(time.time())
        signature = hmac.new(self.secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Intake-Signature": f"t={t},v1={signature}"}
        return SignedRequest(self.path, headers, body)


class SlackEventsMode(Mode):
    """POST /hooks/slack/events: Events API message.im envelopes signed v0 (HMAC of `v0:<ts>:<raw body>`)."""

    name = "slack"
    path = "/hooks/slack/events"
    secret = "bench-slack-signing-secret-" + "7a3e"
    team = "T0BENCH001"
    target_ratio = 0.10
    target_p99_ms = 100.0

    def gateway_config(self) -> dict[str, Any]:
        return {
            "channels": {
                "slack": {
                    "signing_secret": self.secret,
                    "bot_token": "xoxb-bench",
                    "team_id": self.team,
                    "api_url": "http://127.0.0.1:9/api/",
                }
            }
        }

    def make(self, index: int, run_id: str) -> SignedRequest:
        ts = f"{1_700_000_000 + index // 1000}.{index % 1000:06d}"
        body = json.dumps(
            {
                "token": "bench",
                "team_id": self.team,
                "api_app_id": "A0BENCH",
                "type": "event_callback",
                "event_id": f"Ev{run_id}{index:08d}",
                "event_time": 1_700_000_000,
                "event": {
                    "type": "message",
                    "channel_type": "im",
                    "channel": f"D0BENCH{index % 97:03d}",
                    "user": f"U0BENCH{index % 501:04d}",
                    "ts": ts,
                    "text": f"The printer in room {index % 300} is jammed again (bench {run_id} #{index}).",
                },
                "authorizations": [{"team_id": self.team, "user_id": "U0BENCHBOT", "is_bot": True}],
            },
            separators=(",", ":"),
        ).encode()
        # Signed at generation: a run lasts well under Slack's five-minute window.
        stamp = str(int(time.time()))
        sig = hmac.new(self.secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={sig}",
        }
        return SignedRequest(self.path, headers, body)


class TwilioSmsMode(Mode):
    """POST /hooks/twilio/sms, form-encoded, `X-Twilio-Signature` from Twilio's own RequestValidator over the
    public URL and the sorted parameters; a distinct MessageSid and sender each (so none continues another)."""

    name = "sms"
    path = "/hooks/twilio/sms"
    account_sid = "AC" + "be" * 16
    auth_token = "bench-twilio-token-" + "3d9e71"
    public = "https://intake.bench.example.org"
    number = "+15555550100"

    def __init__(self) -> None:
        from twilio.request_validator import RequestValidator

        self.validator = RequestValidator(self.auth_token)

    def gateway_config(self) -> dict[str, Any]:
        return {
            "server": {"public_base_url": self.public},
            "channels": {
                "twilio": {
                    "account_sid": self.account_sid,
                    "auth_token": self.auth_token,
                    "numbers": {"main": {"number": self.number, "school": "district", "language": "en"}},
                }
            },
        }

    def params(self, index: int, run_id: str) -> dict[str, str]:
        sid = "SM" + hashlib.sha256(f"{run_id}-{index}".encode()).hexdigest()[:32]
        return {
            "ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
            "Body": f"The Wi-Fi at school is down again (bench {run_id} #{index})", "FromCountry": "US",
            "To": self.number, "NumSegments": "1", "MessageSid": sid, "AccountSid": self.account_sid,
            "From": f"+1555{index % 10_000_000:07d}", "ApiVersion": "2010-04-01",
        }  # fmt: skip

    def make(self, index: int, run_id: str) -> SignedRequest:
        from urllib.parse import urlencode

        params = self.params(index, run_id)
        signature = self.validator.compute_signature(self.public + self.path, params)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        return SignedRequest(self.path, headers, urlencode(params).encode())


class MetaWhatsAppMode(Mode):
    """POST /hooks/meta: WhatsApp Cloud API webhooks with one text message each, `X-Hub-Signature-256: sha256=<hex
    HMAC-SHA256 of the raw body>` with the app secret; a distinct wamid and sender each (so none continues another)."""

    name = "meta"
    path = "/hooks/meta"
    channel = "whatsapp"  # the requests it sends: /metrics counts them under the product, not the webhook
    app_secret = "bench-meta-app-secret-" + "c41d"
    number_id = "106540000000001"

    def gateway_config(self) -> dict[str, Any]:
        return {
            "channels": {
                "meta": {
                    "app_secret": self.app_secret,
                    "verify_token": "bench-verify",
                    "graph_url": "https://127.0.0.1:9/v21.0",
                    "numbers": {"main": {"phone_number_id": self.number_id, "token": "bench-token", "language": "en"}},
                }
            }
        }

    def make(self, index: int, run_id: str) -> SignedRequest:
        sender = f"1555{index % 10_000_000:07d}"
        wamid = "wamid." + hashlib.sha256(f"{run_id}-{index}".encode()).hexdigest()[:40]
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15555550199", "phone_number_id": self.number_id},
            "contacts": [{"profile": {"name": f"Parent {index}"}, "wa_id": sender}],
            "messages": [{"from": sender, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": f"The Wi-Fi at school is down again (bench {run_id} #{index})"}}],
        }  # fmt: skip
        change = {"field": "messages", "value": value}
        payload = {"object": "whatsapp_business_account", "entry": [{"id": "102290000000001", "changes": [change]}]}
        body = json.dumps(payload, separators=(",", ":")).encode()
        signature = hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}
        return SignedRequest(self.path, headers, body)


MODES: dict[str, type[Mode]] = {m.name: m for m in (WebformMode, SlackEventsMode, TwilioSmsMode, MetaWhatsAppMode)}


@dataclass(frozen=True, slots=True)
class RequestSet:
    """A file of signed requests for wrk_signed.lua: path TAB headers (\\x1f-separated) TAB body, one per line."""

    file: Path
    count: int
    mean_body_bytes: float
    generate_s: float


def write_requests(mode: Mode, count: int, file: Path) -> RequestSet:
    t0 = time.perf_counter()
    run_id = secrets.token_hex(4)
    total = 0
    with file.open("w", encoding="utf-8", newline="\n") as out:
        for i in range(count):
            r = mode.make(i, run_id)
            body = r.body.decode()
            if any(ch in body for ch in "\t\r\n") or any(ch in v for v in r.headers.values() for ch in "\t\r\n\x1f"):
                raise BenchError(f"mode {mode.name}: request {i} has a tab or newline in its body or headers")
            headers = "\x1f".join(f"{k}: {v}" for k, v in r.headers.items())
            out.write(f"{r.path}\t{headers}\t{body}\n")
            total += len(r.body)
        # On disk now, not 30 s from now: the kernel writes dirty pages back when they are 30 s old, and this
        # file (100 MB and more) landing in the first measured round stalled Redis's fsyncs (p99 64-93 ms).
        out.flush()
        os.fsync(out.fileno())
    return RequestSet(file, count, total / max(count, 1), time.perf_counter() - t0)


def gateway_config(mode: Mode, work: Path, redis_url: str, port: int) -> dict[str, Any]:
    """The shipped config/gateway.yaml with this run's data dir, Redis and port, WARNING logs, and the mode's
    overrides merged in."""
    base: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text())
    base["data_dir"] = str(work / "data")
    base["secret_key"] = "bench-" + secrets.token_hex(16)
    base["redis"]["url"] = redis_url
    base["server"]["host"] = "127.0.0.1"
    base["server"]["port"] = port
    base["server"]["public_base_url"] = f"http://127.0.0.1:{port}"
    base["logging"]["level"] = "WARNING"
    _merge(base, mode.gateway_config())
    return base


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v
