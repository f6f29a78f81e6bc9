"""Chaos: mixed traffic (web form, SMS, Slack, email) while the parts under it are killed, then a count of what
became of every message.

One redis-server (appendonly, appendfsync always) on a fixed port, the web process, two workers and the mail
poller, local stand-ins for Twilio, Slack and SMTP, and a real Dovecot. While the messages are sent, Redis is
SIGKILLed and restarted twice and the web process is restarted once, and a worker is SIGKILLed (and a new one
started) every few seconds until every ticket is made. Senders behave as the providers do: a request without a
2xx is sent again, the same request, until it is taken. Then the bench waits for the tickets and the
acknowledgements to settle and prints one JSON line: `sent`, `acknowledged` (2xx, or delivered to the mailbox),
`tickets`, `lost` (acknowledged and in no ticket), `doubled` (in more than one ticket), `replies_sent`,
`replies_doubled` (a requester told "received" more than once). The targets: lost, doubled and replies_doubled
all 0 (exit code 0).

    .venv/bin/python bench/chaos.py                 # 10,000 messages
    .venv/bin/python bench/chaos.py --messages 800  # a shorter run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import aiohttp
import redis
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import REPO, BenchError, child_env, free_port, loadavg_1m, say, stop
from bench.intake_throughput import wait_healthy
from bench.throughput_modes import SignedRequest, SlackEventsMode, TwilioSmsMode, WebformMode, gateway_config
from tests.channels.email_support import mail, mailbox_conf
from tests.mail_fixtures import IMAP_PASSWORD, IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.redis_server import RedisServer
from tests.support.slack_api import BOT_TOKEN, TEAM, SlackAPI
from tests.support.smtp_sink import SmtpSink
from tests.support.twilio_api import TwilioStandIn

CHANNELS = ("webform", "sms", "slack", "email")
MARK = re.compile(r"chaos-(webform|sms|slack|email)-(\d+)")
WORKER_KILL_EVERY_S = 4.0
REDIS_AWAY_S = 3.0
GIVE_UP_S = 300.0  # a sender stops retrying one request after this long


class SlackChaos(SlackEventsMode):
    """One DM per message from its own person, so each is a request of its own."""

    team = TEAM

    def make(self, index: int, run_id: str) -> SignedRequest:
        req = super().make(index, run_id)
        body = json.loads(req.body)
        body["event"].update(
            channel=f"D0C{index:07d}", user=f"U0C{index:07d}", text=f"Printer jammed chaos-slack-{index}"
        )
        raw = json.dumps(body, separators=(",", ":")).encode()
        stamp = req.headers["X-Slack-Request-Timestamp"]
        import hashlib
        import hmac

        sig = hmac.new(self.secret.encode(), b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
        return SignedRequest(self.path, {**req.headers, "X-Slack-Signature": f"v0={sig}"}, raw)


class SmsChaos(TwilioSmsMode):
    def params(self, index: int, run_id: str) -> dict[str, str]:
        p = super().params(index, run_id)
        p["Body"] = f"The Wi-Fi is down chaos-sms-{index}"
        p["From"] = f"+1555{index:07d}"
        return p


def webform_request(index: int) -> SignedRequest:
    body = {"name": f"Parent {index}", "email": f"parent{index}@families.example.org", "category": "transportation",
            "school": "lhs", "message": f"The bus did not come chaos-webform-{index}", "language": "en"}  # fmt: skip
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"chaos-{index}"}
    return SignedRequest("/hooks/webform", headers, json.dumps(body).encode())


class Chaos:
    def __init__(self, work: Path, messages: int) -> None:
        self.work = work
        self.messages = messages
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.workers: list[subprocess.Popen[bytes]] = []
        self.worker_logs: dict[int, Path] = {}  # pid -> that worker's own log
        self.listening: set[int] = set()
        self.worker_count = 0
        self.events: Counter[str] = Counter()
        self.sent = 0
        self.acked: set[str] = set()
        self.config = work / "gateway.yaml"
        self.last_worker_kill = time.monotonic()

    # -- processes ---------------------------------------------------------------------------------

    def _start(self, role: str, log: str) -> subprocess.Popen[bytes]:
        with (self.work / log).open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "--config", str(self.config), role],
                stdout=out, stderr=out, cwd=REPO, env=child_env({}), start_new_session=True,
            )  # fmt: skip

    def start_web(self) -> None:
        self.procs["web"] = self._start("serve", "web.log")

    def start_worker(self) -> None:
        self.worker_count += 1
        log = f"worker{self.worker_count}.log"
        proc = self._start("worker", log)
        self.worker_logs[proc.pid] = self.work / log
        self.workers.append(proc)

    def workers_listening(self) -> bool:
        """Every worker has started and listens on its queues (rq's "Listening on" line). On a loaded machine a
        worker can take longer than the kill interval to import and connect: killing it before then would leave
        no worker ever doing a job, which tests nothing."""
        for proc in self.workers:
            log = self.worker_logs[proc.pid]
            if proc.pid not in self.listening:
                if not log.exists() or b"Listening on" not in log.read_bytes():
                    return False
                self.listening.add(proc.pid)
        return True

    def due_for_a_worker_kill(self) -> bool:
        return time.monotonic() - self.last_worker_kill >= WORKER_KILL_EVERY_S and self.workers_listening()

    def supervise(self) -> None:
        """What a process supervisor does: start again whatever exited (a process whose loop died exits)."""
        for name, proc in list(self.procs.items()):
            if proc.poll() is not None:
                self.events[f"{name}_exited"] += 1
                self.procs[name] = self._start("serve" if name == "web" else name, f"{name}.log")
        for proc in list(self.workers):
            if proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                self.events["worker_exited"] += 1
                self.workers.remove(proc)
                self.start_worker()

    def kill_a_worker(self) -> None:
        """SIGKILL the oldest worker (whatever job it is in) and start a new one."""
        victim = self.workers.pop(0)
        with suppress(ProcessLookupError):
            os.killpg(victim.pid, signal.SIGKILL)
        self.events["worker_kills"] += 1
        self.start_worker()
        self.last_worker_kill = time.monotonic()

    def kill_all(self) -> None:
        for proc in [*self.procs.values(), *self.workers]:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(10)

    # -- sending -----------------------------------------------------------------------------------

    async def send_http(self, http: aiohttp.ClientSession, marker: str, req: SignedRequest) -> None:
        deadline = time.monotonic() + GIVE_UP_S
        while time.monotonic() < deadline:
            try:
                async with http.post(
                    f"http://127.0.0.1:{self.port}{req.path}", data=req.body, headers=req.headers
                ) as r:
                    await r.read()
                    if 200 <= r.status < 300:
                        self.acked.add(marker)
                        return
                    self.events[f"status_{r.status}"] += 1
            except (aiohttp.ClientError, TimeoutError):
                self.events["connection_errors"] += 1
            await asyncio.sleep(0.5)

    async def send_all(self, dovecot: Dovecot, concurrency: int, on_progress: Callable[[int], None]) -> None:
        sms, slack, form = SmsChaos(), SlackChaos(), WebformMode()
        del form  # the web form is sent with its source token (webform_request), not signed
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(self.messages):
            queue.put_nowait(i)
        emails: list[tuple[str, bytes]] = []

        async def sender(http: aiohttp.ClientSession) -> None:
            while not queue.empty():
                i = queue.get_nowait()
                channel = CHANNELS[i % len(CHANNELS)]
                marker = f"chaos-{channel}-{i}"
                self.sent += 1
                on_progress(self.sent)
                if channel == "email":
                    raw = mail(sender=f"Parent {i} <family{i}@homes.example.org>", subject=f"Question {i}",
                               body=f"Where is the bus? {marker}\n")  # fmt: skip
                    emails.append((marker, raw))
                    if len(emails) >= 25:
                        batch, emails[:] = list(emails), []
                        await asyncio.to_thread(dovecot.deliver_many, IMAP_USER, [r for _, r in batch])
                        self.acked.update(m for m, _ in batch)
                    continue
                token = {"Authorization": "Bearer chaos-form-token"}
                req = (webform_request(i) if channel == "webform" else sms.make(i, "c") if channel == "sms"
                       else slack.make(i, "c"))  # fmt: skip
                if channel == "webform":
                    req = SignedRequest(req.path, {**req.headers, **token}, req.body)
                await self.send_http(http, marker, req)

        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as http:
            await asyncio.gather(*(sender(http) for _ in range(concurrency)))
        if emails:
            await asyncio.to_thread(dovecot.deliver_many, IMAP_USER, [r for _, r in emails])
            self.acked.update(m for m, _ in emails)

    # -- counting ----------------------------------------------------------------------------------

    def tickets(self) -> Counter[str]:
        db = self.work / "data" / "tickets.sqlite3"
        seen: Counter[str] = Counter()
        if not db.exists():
            return seen
        with suppress(sqlite3.OperationalError), sqlite3.connect(db, timeout=10) as conn:
            for (body,) in conn.execute("SELECT body FROM tickets"):
                for m in MARK.finditer(body or ""):
                    seen[m.group(0)] += 1
        return seen

    def ticket_rows(self) -> int:
        db = self.work / "data" / "tickets.sqlite3"
        with suppress(sqlite3.OperationalError), sqlite3.connect(db, timeout=10) as conn:
            return int(conn.execute("SELECT count(*) FROM tickets").fetchone()[0])
        return 0


def build_config(chaos: Chaos, redis_url: str, twilio: TwilioStandIn, slack: SlackAPI, dovecot: Dovecot,
                 smtp: SmtpSink) -> None:  # fmt: skip
    sms = SmsChaos()
    base = gateway_config(sms, chaos.work, redis_url, chaos.port)
    base["channels"]["twilio"].update(api_base_url=twilio.base_url, ca_file=str(twilio.ca_file), quiet_hours="",
                                      sends_per_second_per_number=1000)  # fmt: skip
    base["channels"]["slack"] = {"signing_secret": SlackChaos.secret, "bot_token": BOT_TOKEN, "team_id": TEAM,
                                 "api_url": slack.url, "channel_interval_s": 0.0}  # fmt: skip
    base["channels"]["webform"]["sources"] = {"chaos": {"token": "chaos-form-token"}}
    box = mailbox_conf(dovecot, smtp)
    base["channels"]["email"] = {"mailboxes": {"help": box}, "default_mailbox": "help", "poll_interval_s": 1.0,
                                 "reconnect_max_s": 2.0}  # fmt: skip
    base["rate_limits"] = {"form_per_client": "10000000/hour", "hook_per_client": "10000000/hour",
                           "per_address": "10000000/hour"}  # fmt: skip
    base["logging"]["level"] = "INFO"
    # A job that met a killed Redis or was on a killed worker is retried: sooner than the shipped 10 s, 60 s, ...
    # so the run ends in minutes. What is measured is whether anything is lost or doubled, not how long a retry waits.
    base["jobs"]["retry_intervals"] = [1, 2, 5, 10, 30]
    chaos.config.write_text(yaml.safe_dump(base, allow_unicode=True))


def run(work: Path, messages: int, concurrency: int, settle_s: float) -> dict[str, Any]:
    chaos = Chaos(work, messages)
    with ExitStack() as stack:
        sms = SmsChaos()
        twilio = TwilioStandIn(sms.account_sid, sms.auth_token, work).start()
        stack.callback(twilio.stop)
        slack = SlackAPI().start()
        stack.callback(slack.stop)
        smtp = SmtpSink()
        smtp.up()
        stack.callback(smtp.down)
        dovecot = Dovecot()
        stack.callback(dovecot.close)
        dovecot.add_user(IMAP_USER, IMAP_PASSWORD)
        dovecot.start()
        redis_srv = RedisServer(work / "redis")
        redis_srv.start()
        stack.callback(redis_srv.stop)
        build_config(chaos, redis_srv.url, twilio, slack, dovecot, smtp)
        stack.callback(chaos.kill_all)
        chaos.start_web()
        chaos.procs["mail"] = chaos._start("mail", "mail.log")
        for _ in range(2):
            chaos.start_worker()
        wait_up(chaos)
        say(f"sending {messages} messages over {', '.join(CHANNELS)}")
        plan = {messages // 4: "redis", messages // 2: "web", (3 * messages) // 4: "redis"}
        faults: list[str] = []

        def on_progress(n: int) -> None:
            if n in plan:
                faults.append(plan.pop(n))

        async def main() -> None:
            done = asyncio.Event()

            async def chaos_loop() -> None:
                while not done.is_set():
                    while faults:
                        fault = faults.pop(0)
                        if fault == "redis":
                            say("SIGKILL redis")
                            redis_srv.stop(kill=True)
                            chaos.events["redis_kills"] += 1
                            await asyncio.sleep(REDIS_AWAY_S)
                            await asyncio.to_thread(redis_srv.start)
                            say("redis back")
                        else:
                            say("restarting the web process")
                            await asyncio.to_thread(stop, chaos.procs["web"])
                            chaos.start_web()
                            chaos.events["web_restarts"] += 1
                    if chaos.due_for_a_worker_kill():
                        chaos.kill_a_worker()
                    chaos.supervise()
                    await asyncio.sleep(0.2)

            task = asyncio.create_task(chaos_loop())
            try:
                await chaos.send_all(dovecot, concurrency, on_progress)
            finally:
                done.set()
                await task

        started = time.monotonic()
        asyncio.run(main())
        send_s = time.monotonic() - started
        say(f"sent in {send_s:.0f}s, {len(chaos.acked)} acknowledged; waiting for the tickets")
        for name, proc in chaos.procs.items():
            if proc.poll() is not None:
                raise BenchError(f"the {name} process exited with {proc.returncode}")
        seen = settle(chaos, redis_srv, settle_s)
        # The acknowledgements follow their tickets: wait until no job is left (or for `settle_s` at most).
        quiet_by = time.monotonic() + settle_s
        while time.monotonic() < quiet_by and pending_jobs(redis_srv):
            chaos.supervise()
            time.sleep(1)
        time.sleep(3)
        replies = Counter[str]()
        for m in twilio.messages:
            replies[f"sms:{m.get('to') or m.get('To')}"] += 1
        for call in slack.called("chat.postMessage"):
            replies[f"slack:{call.args.get('channel')}"] += 1
        for got in smtp.messages:
            for rcpt in got.rcpt_tos:
                replies[f"email:{rcpt.lower()}"] += 1
        lost = sorted(m for m in chaos.acked if seen[m] == 0)
        if lost:
            say(f"lost (first 10): {lost[:10]}")
            say(f"jobs: {job_counts(redis_srv)}")
        return {
            "bench": "chaos",
            "sent": chaos.sent,
            "acknowledged": len(chaos.acked),
            "tickets": chaos.ticket_rows(),
            "lost": len(lost),
            "doubled": sum(1 for n in seen.values() if n > 1),
            "replies_sent": sum(replies.values()),
            "replies_doubled": sum(n - 1 for n in replies.values() if n > 1),
            "replies_doubled_by_channel": dict(Counter(k.split(":", 1)[0] for k, n in replies.items() if n > 1)),
            "send_s": round(send_s, 1),
            "faults": dict(chaos.events),
            "loadavg_1m": loadavg_1m(),
        }
    raise AssertionError("unreachable")


def job_counts(redis_srv: RedisServer) -> dict[str, int]:
    """Where the jobs are: what a loss is waiting in (or died in)."""
    r = redis_srv.client()
    out: dict[str, int] = {}
    # rq's per-job execution sets are bookkeeping, not places a job waits.
    for key in r.scan_iter("rq:*"):
        k = key.decode()
        kind = r.type(key).decode()
        if k.startswith(("rq:job:", "rq:executions:")) or kind not in ("list", "zset"):
            continue
        out[k] = int(r.llen(key) if kind == "list" else r.zcard(key))
    return {k: v for k, v in sorted(out.items()) if v}


def wait_up(chaos: Chaos) -> None:
    wait_healthy(chaos.port, chaos.procs["web"], chaos.work / "web.log", "the web process", timeout=60)


def pending_jobs(redis_srv: RedisServer) -> int:
    """Jobs still queued, scheduled for a retry, or running: their tickets may yet come."""
    with suppress(OSError, redis.RedisError):
        return sum(v for k, v in job_counts(redis_srv).items() if not k.startswith(("rq:finished:", "rq:failed:")))
    return 1


def settle(chaos: Chaos, redis_srv: RedisServer, settle_s: float) -> Counter[str]:
    """Wait until every acknowledged message is in a ticket, or nothing changed for `settle_s` with no job left
    that could still make one (and never longer than ten times that)."""
    last, changed, cap = -1, time.monotonic(), time.monotonic() + 10 * settle_s
    while True:
        seen = chaos.tickets()
        have = sum(1 for m in chaos.acked if seen[m])
        if have == len(chaos.acked):
            return seen
        chaos.supervise()
        if chaos.due_for_a_worker_kill():
            chaos.kill_a_worker()  # the workers are killed all through, not only while the messages are sent
        if have != last:
            last, changed = have, time.monotonic()
            say(f"{have}/{len(chaos.acked)} in tickets")
        elif time.monotonic() > cap or (time.monotonic() - changed > settle_s and not pending_jobs(redis_srv)):
            return seen
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=10_000, help="messages to send (default 10000)")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight at once (default 16)")
    p.add_argument("--settle", type=float, default=120.0, help="give up when no ticket appears for this long")
    p.add_argument("--keep", type=Path, default=None, help="run in this directory and keep it (logs)")
    args = p.parse_args(argv)
    try:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            out = run(args.keep, args.messages, args.concurrency, args.settle)
        else:
            with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
                out = run(Path(tmp), args.messages, args.concurrency, args.settle)
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    print(json.dumps(out))
    return 0 if out["lost"] == out["doubled"] == out["replies_doubled"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
