"""The Redmine backend's own promises, called directly against the real Redmine: Redmine's own words when it refuses,
a note once per key, incidents as parent issues, statuses and due dates, a cheap poll, and a check that names what is
wrong."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway import keys
from gateway.ids import new_id
from gateway.models import TicketStatus
from tests.redmine_fixtures import Staff
from tests.support.gateway import settings_from
from tests.support.holding_proxy import HoldingProxy
from tests.support.redis_server import RedisServer
from tests.support.redmine import RedmineServer
from tests.workers.backends.redmine_support import commitment, redmine_config
from workers.backends.errors import (
    BackendAuthFailed,
    BackendError,
    BackendRateLimited,
    BackendRefused,
    BackendUnavailable,
)
from workers.backends.redmine import RedmineBackend
from workers.backends.redmine.client import RedmineNotFound


def backend(tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, **section: object) -> RedmineBackend:
    return RedmineBackend.from_settings(settings_from(redmine_config(tmp_path, redis_server, redmine, **section)))


def test_an_unknown_project_is_refused_with_redmines_own_message(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer
) -> None:
    desk = backend(tmp_path, redis_server, redmine, map={"queue": {"transportation": "no-such-project"}})
    with pytest.raises(BackendRefused) as refused:
        desk.create_ticket(commitment(queue="transportation"), new_id())
    assert refused.value.message == (
        "issue in project 'no-such-project' refused: POST /issues.json: "
        "Project cannot be blank; Tracker cannot be blank; Status cannot be blank"
    )


def test_a_retried_request_finds_its_issue_and_a_retried_note_is_added_once(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff
) -> None:
    desk = backend(tmp_path, redis_server, redmine)
    request = commitment("The 7:10 bus did not come.")
    ref = desk.create_ticket(request, request.message.id)
    assert desk.create_ticket(request, request.message.id) == ref
    follow_up = commitment("It came at 7:50.")
    for _ in range(3):
        desk.add_comment(ref, follow_up, follow_up.message.id)
    desk.add_comment(ref, commitment("Driver was sick."), "internal-1", public=False)
    assert [len(staff.issues_for(request.message.id))] == [1]
    assert staff.notes(ref) == [f"It came at 7:50.\n\nintake-id: {follow_up.message.id}",
                                "Driver was sick.\n\nintake-id: internal-1"]  # fmt: skip
    assert [j.private_notes for j in staff.issue(ref).journals] == [False, True]


def test_an_incident_links_children_under_its_parent_and_sets_statuses_and_due_dates_once(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff
) -> None:
    desk = backend(tmp_path, redis_server, redmine)
    parent = desk.create_ticket(commitment("Wi-Fi down at Lincoln High"), f"incident-{new_id()}")
    child = desk.create_ticket(commitment("No internet in room 12"), new_id())
    desk.link_child(parent, child)
    assert staff.issue(child).parent.id == int(parent)

    update = f"incident-update-{new_id()}"
    for _ in range(2):
        desk.set_status(parent, TicketStatus.IN_PROGRESS, "Technicians are on site.", "intake", update)
    assert staff.issue(parent).status.name == "In Progress"
    assert staff.notes(parent) == [f"Technicians are on site.\n\nintake-id: {update}"]

    desk.set_status(child, TicketStatus.RESOLVED, None, "intake", f"{update}-child")
    assert desk.fetch_status(child) is TicketStatus.RESOLVED
    [mark] = staff.issue(child).journals[-1:]
    assert mark.private_notes  # a change without a comment is marked in a private note: staff see no noise

    desk.set_due(child, "resolution", datetime(2027, 1, 12, 23, 30, tzinfo=UTC))
    desk.set_due(child, "first_response", datetime(2027, 1, 5, 9, 0, tzinfo=UTC))  # Redmine has no such field
    assert str(staff.issue(child).due_date) == "2027-01-12"


def test_a_poll_reads_the_changed_issue_once_and_nothing_else(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff
) -> None:
    proxy = HoldingProxy(redmine.url).start()
    try:
        desk = backend(tmp_path, redis_server, redmine, url=proxy.url)
        refs = [desk.create_ticket(commitment(f"Bus {n} late"), new_id()) for n in range(3)]
        _, checkpoint = desk.poll_changes("")
        events, checkpoint = desk.poll_changes(checkpoint)  # the new issues, read once each
        assert [e for e in events if e.ticket_ref in refs] == []

        staff.answer(refs[1], "Route 4 is back to normal.")
        proxy.seen.clear()
        events, checkpoint = desk.poll_changes(checkpoint)
        assert [(e.ticket_ref, e.public_comment) for e in events] == [(refs[1], "Route 4 is back to normal.")]
        reads = [path.split("?")[0] for _, path in proxy.seen]
        assert reads.count("/issues.json") == 1  # one query for everything changed
        assert reads.count(f"/issues/{refs[1]}.json") == 1
        assert not {f"/issues/{refs[0]}.json", f"/issues/{refs[2]}.json"} & set(reads)

        proxy.seen.clear()
        again, _ = desk.poll_changes(checkpoint)
        assert again == []
        assert [path.split("?")[0] for _, path in proxy.seen] == ["/issues.json"]  # nothing new: one call in all
    finally:
        proxy.stop()


def test_check_is_empty_when_all_is_well_and_names_each_problem_otherwise(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer
) -> None:
    assert backend(tmp_path, redis_server, redmine).check() == []
    wrong_key = backend(tmp_path, redis_server, redmine, api_key="0" * 40).check()
    assert wrong_key == [
        "backends.redmine: api_key (REDMINE_API_KEY): GET /users/current.json: 401: Redmine refused the API key, or "
        "its REST API is off (Administration » Settings » API), or the API user's role lacks the permission"
    ]
    wrong_names = backend(
        tmp_path, redis_server, redmine,
        map={"queue": {"it": "no-such-project"}, "category": {"devices": "Feature"}, "priority": {"urgent": "Now"}},
        requester_field="Guardian",
    ).check()  # fmt: skip
    assert wrong_names[:2] == [
        "backends.redmine.project: tracker 'Feature' is not enabled in project 'helpdesk' "
        "(the project's Settings » Issue tracking)",
        "backends.redmine.map.queue.it: no project 'no-such-project' in Redmine, or the API user is not a member "
        "of it (use the project's identifier, as in its address)",
    ]
    assert (
        "backends.redmine.map.priority: no priority 'Now' in Redmine (known: high, immediate, low, normal, urgent)"
        in wrong_names
    )
    assert any(p.startswith("backends.redmine.requester_field: no custom field 'Guardian'") for p in wrong_names)
    unreachable = backend(tmp_path, redis_server, redmine, url="http://127.0.0.1:9", timeout_s=2).check()
    assert unreachable == [
        "backends.redmine: url (REDMINE_URL): cannot reach Redmine at http://127.0.0.1:9: "
        "GET /users/current.json: ConnectionError"
    ]


class Answering:
    """A stand-in for Redmine (or the proxy in front of it) that answers every request with one scripted reply."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        reply = (status, headers, body)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = reply
                self.send_response(status)
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "message"),
    [
        (429, {"Retry-After": "7"}, b"", BackendRateLimited, "GET /issues.json: 429 too many requests"),
        (503, {}, b"<h1>Maintenance</h1>", BackendUnavailable, "GET /issues.json: 503 Service Unavailable"),
        (502, {}, b"", BackendUnavailable, "GET /issues.json: 502 Bad Gateway"),
        (500, {}, b"", BackendUnavailable, "GET /issues.json: 500 Internal Server Error"),
        (401, {}, b"", BackendAuthFailed, "GET /issues.json: 401: Redmine refused the API key"),
        (403, {}, b"", BackendAuthFailed, "GET /issues.json: 403: Redmine refused the API key"),
        (404, {}, b"", RedmineNotFound, "GET /issues.json: 404: not found, or not visible to the API user"),
        (422, {"Content-Type": "application/json"}, b'{"errors":["Subject cannot be blank"]}', BackendRefused,
         "GET /issues.json: Subject cannot be blank"),
        (200, {"Content-Type": "text/html"}, b"<html>Sign in</html>", BackendUnavailable,
         "GET /issues.json: JSONDecodeError"),
    ],
)  # fmt: skip
def test_each_answer_is_the_kind_of_failure_the_worker_acts_on(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer,
    status: int, headers: dict[str, str], body: bytes, kind: type[BackendError], message: str,
) -> None:  # fmt: skip
    standin = Answering(status, headers, body)
    try:
        with pytest.raises(kind) as failed:
            backend(tmp_path, redis_server, redmine, url=standin.url).find(new_id())
    finally:
        standin.stop()
    assert failed.value.message.startswith(message)
    if isinstance(failed.value, BackendRateLimited):
        assert failed.value.retry_after_s == 7.0


def test_every_call_takes_a_token_from_the_bucket_all_workers_share(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer
) -> None:
    one_a_minute = {"requests_per_minute": 1}  # a bucket of one token, refilled once a minute
    worker = backend(tmp_path, redis_server, redmine, **one_a_minute)
    other_worker = backend(tmp_path, redis_server, redmine, **one_a_minute)
    assert worker.find(new_id()) is None  # the one token
    for desk in (worker, other_worker):
        with pytest.raises(BackendRateLimited, match="paced"):
            desk.find(new_id())
    assert redis_server.client().exists(keys.backend_bucket("redmine"))
