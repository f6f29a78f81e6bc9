"""A real Request Tracker 5 for the tests: Debian's `request-tracker5` on its own SQLite database and port.

RT reads its site configuration from `RT_SITE_CONFIG` (and the `RT_SITE_CONFIG_DIR` folder), so the
package's own files in /etc/request-tracker5 (its database, syslog) are never read: everything lives in
one directory under /tmp. `rt-setup-database` builds the schema and RT's core data, then our initial
data: the queues, the custom fields, an API user and a staff user, their rights, and an auth token each
(written to files by the initial data's `@Final` step, the one place RT hands a token out). RT's own
standalone server (`rt-server`, Starlet, prefork) then serves the web UI and REST2.

RT checks a token (or a password) with bcrypt on every REST2 call; at RT's default cost (12) that is
about 250 ms of CPU per call on this machine, more than a ticket's creation. The test RT hashes at
cost 4, so the tests and the benchmark measure RT's ticket work rather than its password hashing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.redis_server import free_port

SETUP = Path("/usr/sbin/rt-setup-database")
SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
QUEUES = ("General", "Transportation", "IT Help")  # General comes with RT's core data
REQUEST_FIELD = "Intake Request"
TAGS_FIELD = "Intake Tags"
API_USER, API_PASSWORD = "intake", "intake-api-password-5e1"
STAFF_USER, STAFF_PASSWORD = "sam.staff", "staff-password-77c"
# What the README asks a district to grant the API user, on each queue the gateway files into.
API_RIGHTS = ("SeeQueue", "CreateTicket", "ShowTicket", "ModifyTicket", "ReplyToTicket", "CommentOnTicket",
              "ShowTicketComments", "SeeCustomField", "ModifyCustomField")  # fmt: skip
API_GLOBAL_RIGHTS = ("ManageAuthTokens", "AdminUsers")
STAFF_RIGHTS = (*API_RIGHTS, "OwnTicket")
START_DEADLINE_S = 120.0
QUIET_SCRIPS = ("On Create Autoreply To Requestors", "On Correspond Notify Requestors and Ccs")


def _perl(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class RequestTracker:
    """A private RT 5 on 127.0.0.1:`port`, REST2 at `rest_url`; `token` is the API user's, `staff_token` staff's."""

    host = "127.0.0.1"

    def __init__(self, *, port: int | None = None, workers: int = 4) -> None:
        assert SETUP.exists() and SERVER.exists(), "request-tracker5 missing: `make system` installs it"
        self.root = Path(tempfile.mkdtemp(prefix="rt-"))
        self.port = port or free_port()
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.staff_token = ""
        self.started_in_s = 0.0
        for sub in ("etc", "etc/site.d", "mason", "sessions", "var", "tokens"):
            (self.root / sub).mkdir()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def rest_url(self) -> str:
        return self.url + "REST/2.0/"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> RequestTracker:
        """Build the database and start the server; return once REST2 answers the API user's token."""
        began = time.monotonic()
        (self.root / "etc" / "RT_SiteConfig.pm").write_text(self._site_config())
        (self.root / "initialdata").write_text(self._initial_data())
        self._setup("--action", "init", "--skip-create")
        self._setup("--action", "insert", "--datafile", str(self.root / "initialdata"))
        self.token = (self.root / "tokens" / API_USER).read_text().strip()
        self.staff_token = (self.root / "tokens" / STAFF_USER).read_text().strip()
        self._serve()
        self.started_in_s = time.monotonic() - began
        return self

    def _serve(self) -> None:
        with open(self.root / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(SERVER), "--host", self.host, "--port", str(self.port), "--max-workers", str(self.workers)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self._env(), cwd=self.root,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            if self.proc.poll() is not None:
                self._fail(f"rt-server exited with status {self.proc.returncode}")
            try:
                self.request("GET", "rt")
                return
            except (OSError, urllib.error.URLError) as exc:
                if time.monotonic() > deadline:
                    self._fail(f"REST2 not answering after {START_DEADLINE_S:.0f} s: {exc!r}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        group = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # Starlet's children, if any outlived their parent
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RequestTracker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
        env.update(RT_SITE_CONFIG=str(self.root / "etc" / "RT_SiteConfig.pm"),
                   RT_SITE_CONFIG_DIR=str(self.root / "etc" / "site.d"),
                   INTAKE_TEST_TOKEN_DIR=str(self.root / "tokens"))  # fmt: skip
        return env

    def _setup(self, *args: str) -> None:
        result = subprocess.run([str(SETUP), *args], capture_output=True, env=self._env(), cwd=self.root, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"rt-setup-database {' '.join(args)} failed:\n{result.stdout.decode()[-2000:]}"
                               f"{result.stderr.decode()[-2000:]}")  # fmt: skip

    def _fail(self, reason: str) -> None:
        self.stop()
        raise RuntimeError(f"RT did not start ({reason}). Log tail:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        path = self.root / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # -- configuration ---------------------------------------------------------------------------

    def _site_config(self) -> str:
        root = self.root
        return f"""\
# Written by tests/support/rt.py. Paths RT would otherwise share with the package's own instance:
$RT::MasonDataDir = {_perl(str(root / "mason"))};
$RT::MasonSessionDir = {_perl(str(root / "sessions"))};
$RT::VarPath = {_perl(str(root / "var"))};
Set($rtname, 'intake-test');
Set($Organization, 'intake.test');
Set($Timezone, 'UTC');
Set($WebDomain, {_perl(self.host)});
Set($WebPort, {self.port});
Set($WebPath, '');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, {_perl(str(root / "rt.sqlite"))});
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($LogToSTDERR, 'warning');
# RT's notifications (its autoreply to requesters, staff notices) are written to a file, never sent.
Set($MailCommand, 'testfile');
Set($BcryptCost, 4);
1;
"""

    def _initial_data(self) -> str:
        queues = ", ".join(f"{{ Name => {_perl(q)}, CorrespondAddress => '', CommentAddress => '' }}"
                           for q in QUEUES if q != "General")  # fmt: skip
        acl = []
        for user, rights in ((API_USER, API_RIGHTS), (STAFF_USER, STAFF_RIGHTS)):
            acl += [f"{{ UserId => {_perl(user)}, Right => {_perl(r)} }}" for r in rights]
        # Global rights: its own token, and making RT users for requesters known only by phone number.
        acl += [f"{{ UserId => {_perl(API_USER)}, Right => {_perl(r)} }}" for r in API_GLOBAL_RIGHTS]
        return f"""\
@Queues = ({queues});
@Users = (
  {{ Name => {_perl(API_USER)}, Password => {_perl(API_PASSWORD)}, EmailAddress => 'intake-gateway@district.test',
     RealName => 'Intake Gateway', Privileged => 1 }},
  {{ Name => {_perl(STAFF_USER)}, Password => {_perl(STAFF_PASSWORD)}, EmailAddress => 'sam.staff@district.test',
     RealName => 'Sam Staff', Privileged => 1 }},
);
@CustomFields = (
  {{ Name => {_perl(REQUEST_FIELD)}, Type => 'FreeformSingle', LookupType => 'RT::Queue-RT::Ticket', Queue => 0,
     Description => 'The Intake Gateway request this ticket was made from' }},
  {{ Name => 'School', Type => 'FreeformSingle', LookupType => 'RT::Queue-RT::Ticket', Queue => 0 }},
  {{ Name => {_perl(TAGS_FIELD)}, Type => 'FreeformMultiple', LookupType => 'RT::Queue-RT::Ticket', Queue => 0 }},
);
@ACL = ({", ".join(acl)});
@Final = (sub {{
  # As the README asks of a district's RT: the gateway answers families on their own channel, so RT mails
  # requesters nothing itself (its staff notifications stay on).
  for my $description ({", ".join(_perl(d) for d in QUIET_SCRIPS)}) {{
    my $scrip = RT::Scrip->new(RT->SystemUser);
    $scrip->LoadByCols(Description => $description);
    die "no scrip '$description'" unless $scrip->Id;
    my ($ok, $msg) = $scrip->SetDisabled(1);
    die "scrip '$description': $msg" unless $ok;
  }}
  for my $name ({_perl(API_USER)}, {_perl(STAFF_USER)}) {{
    my $user = RT::User->new(RT->SystemUser);
    $user->Load($name);
    my ($ok, $msg, $auth) = RT::AuthToken->new(RT->SystemUser)->Create(Owner => $user->Id, Description => 'tests');
    die "no token for $name: $msg" unless $ok;
    open(my $fh, '>', "$ENV{{INTAKE_TEST_TOKEN_DIR}}/$name") or die "token file: $!";
    print $fh $auth;
    close($fh);
  }}
}});
1;
"""

    # -- REST2 as staff would use it -------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        """One REST2 call (the API user's token unless another is given); the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.rest_url + path, data=data, method=method)  # noqa: S310 (our own RT)
        req.add_header("Authorization", f"token {token or self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 (our own loopback RT)
            raw = resp.read()
        return json.loads(raw) if raw else None

    def search(self, query: str, fields: str = "Subject,Status,Queue,Priority,Requestor,CustomFields,Due") -> list[Any]:
        """Every ticket TicketSQL finds (all pages), with `fields`."""
        found: list[Any] = []
        page = 1
        while True:
            params = urllib.parse.urlencode({"query": query, "fields": fields, "per_page": 100, "page": page,
                                             "fields[Queue]": "Name"})  # fmt: skip
            items = self.request("GET", f"tickets?{params}")["items"]
            found += items
            if len(items) < 100:
                return found
            page += 1

    def tickets_for(self, request_id: str) -> list[Any]:
        """The tickets carrying our request id in the custom field (exactly one, when all is well)."""
        return self.search(f"'CF.{{{REQUEST_FIELD}}}' = '{request_id}'")

    def history(self, ticket: int | str, *, token: str | None = None) -> list[Any]:
        """A ticket's transactions, oldest first, with their type, creator and fields."""
        params = urllib.parse.urlencode({"fields": "Type,Field,OldValue,NewValue,Creator,Data", "per_page": 100})
        items: list[Any] = self.request("GET", f"ticket/{ticket}/history?{params}", token=token)["items"]
        return items

    def messages(self, ticket: int | str) -> list[tuple[str, str, str]]:
        """(transaction type, subject, text) of every message on a ticket: the creation, correspondence, comments."""
        types = {str(t["id"]): t["Type"] for t in self.history(ticket)}
        params = urllib.parse.urlencode(
            {"fields": "TransactionId,Subject,Content,ContentType,Filename", "per_page": 100}
        )
        return [
            (types.get(str(att["TransactionId"]), "?"), att.get("Subject") or "", att.get("Content") or "")
            for att in self.request("GET", f"ticket/{ticket}/attachments?{params}")["items"]
            if att["ContentType"] == "text/plain" and not att.get("Filename")
        ]

    def answer(self, ticket: int | str, text: str, *, status: str | None = None) -> None:
        """Staff answer the requester in RT (Reply), as they would from RT's ticket page."""
        body: dict[str, Any] = {"Content": text, "ContentType": "text/plain"}
        if status:
            body["Status"] = status
        self.request("POST", f"ticket/{ticket}/correspond", body, token=self.staff_token)

    def note(self, ticket: int | str, text: str) -> None:
        """Staff leave an internal comment (RT's Comment): never meant for the family."""
        self.request("POST", f"ticket/{ticket}/comment", {"Content": text, "ContentType": "text/plain"},
                     token=self.staff_token)  # fmt: skip

    def set_status(self, ticket: int | str, status: str) -> None:
        self.request("PUT", f"ticket/{ticket}", {"Status": status}, token=self.staff_token)
