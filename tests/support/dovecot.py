"""A real Dovecot IMAP server for a test: its own directory, ports, users and Maildirs.

Dovecot will not open a mailbox as root, whatever `first_valid_uid` says ("Mail access not allowed
for root"), and its login processes refuse root too. So the master and its internal services run as root,
logins as `dovenull` (created by the dovecot-core package) and every mailbox as `nobody`. Everything
lives in one short directory under /tmp: pytest's tmp_path is mode 0700 (so `nobody` cannot reach
it) and is too long for Dovecot's unix sockets (108 bytes).
"""

from __future__ import annotations

import contextlib
import functools
import imaplib
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from types import TracebackType

from tests.support.redis_server import free_port

DOVECOT = Path("/usr/sbin/dovecot")
LIBEXEC = Path("/usr/lib/dovecot")
MAIL_USER = "nobody"
LOGIN_USER = "dovenull"


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for `localhost` and 127.0.0.1 (P-256, so it takes ~10 ms)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def client_context(cert: Path) -> ssl.SSLContext:
    """A client context that trusts exactly this self-signed certificate."""
    return ssl.create_default_context(cafile=str(cert))


@functools.cache
def default_capabilities() -> tuple[str, ...]:
    """Dovecot's own post-login CAPABILITY list, read from a PREAUTH session of its imap binary.

    `imap_capability` can only replace that list or add to it, so removing one capability means
    writing out all the others; asking the installed binary keeps this right across versions.
    """
    mail = pwd.getpwnam(MAIL_USER)
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [str(LIBEXEC / "imap"), "-c", "/dev/null", "-o", f"mail_uid={mail.pw_uid}", "-o", f"mail_gid={mail.pw_gid}",
             "-o", f"mail_location=maildir:{tmp}/Maildir", "-o", "log_path=/dev/null"],
            input=b"a LOGOUT\r\n", env={"USER": "capabilities"}, capture_output=True, check=True, timeout=10,
        )  # fmt: skip
    greeting = result.stdout.split(b"\r\n", 1)[0].decode()
    start = greeting.index("[CAPABILITY ") + len("[CAPABILITY ")
    return tuple(greeting[start : greeting.index("]", start)].split())


def _running_processes() -> Iterator[tuple[int, int]]:
    """(pid, process group) of every process that is not a zombie. Zombies do not count: they hold
    no port or file, and this sandbox's init reaps orphans seconds late."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if state != "Z":
            yield int(stat.parent.name), int(group)


def _wait_gone(*, group: int | None = None, pids: Collection[int] = (), timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while any(pgrp == group or pid in pids for pid, pgrp in _running_processes()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class Dovecot:
    """A private Dovecot on 127.0.0.1: plain IMAP on `port`, and IMAPS on `imaps_port` when `tls`.

    With `tls` the plain port also offers STARTTLS. `disabled_capabilities` are left out of the
    CAPABILITY list, but Dovecot still executes such a command if a client sends it anyway: with
    `rawlog` on, `imap_commands()` shows what clients really sent, so a test can prove a fallback.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        port: int | None = None,
        tls: bool = False,
        disabled_capabilities: Iterable[str] = (),
        rawlog: bool = True,
    ) -> None:
        assert DOVECOT.exists(), "dovecot missing: `make system` installs it"
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.root.chmod(0o711)
        self.port = port or free_port()
        self.imaps_port = free_port() if tls else None
        self.disabled_capabilities = frozenset(c.upper() for c in disabled_capabilities)
        self.rawlog = rawlog
        self.users: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._sequence = 0
        mail = pwd.getpwnam(MAIL_USER)
        self.mail_uid, self.mail_gid = mail.pw_uid, mail.pw_gid
        for owned in (self.root / "mail", self.root / "rawlog"):
            owned.mkdir(mode=0o700)
            os.chown(owned, self.mail_uid, self.mail_gid)
        self.cert: Path | None = None
        self.key: Path | None = None
        if tls:
            self.cert, self.key = self_signed_cert(self.root / "tls")
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self._write_passwd()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and return once a client can connect and, if any user exists, log in."""
        assert self.proc is None, "Dovecot already running"
        # A killed master leaves its pid file (and sockets) behind, and refuses to start over them.
        shutil.rmtree(self.root / "run", ignore_errors=True)
        self.config_path.write_text(self._config())
        with open(self.root / "stderr.log", "ab") as stderr:
            self.proc = subprocess.Popen(
                [str(DOVECOT), "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                self._fail(f"dovecot exited with status {self.proc.returncode}")
            try:
                if self.users:
                    self.client().logout()
                else:
                    self._greeting()
                return
            except (OSError, imaplib.IMAP4.error) as exc:
                if time.monotonic() > deadline:
                    self._fail(f"not ready after 10 s: {exc!r}")
                time.sleep(0.01)

    def stop(self) -> None:
        """Shut down as an operator would (SIGTERM): clients get `* BYE` and the mail stays."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the master and every child at once, as a crash or an OOM kill would."""
        self._signal(signal.SIGKILL)

    def restart(self) -> None:
        """Stop and start again on the same ports, with the same users, mail, UIDs and UIDVALIDITY."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove everything, the mail included."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        group = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None
        # Children outlive the master by a few ms; the port is free only once they are all gone.
        if not _wait_gone(group=group):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            _wait_gone(group=group)

    def _greeting(self) -> None:
        with imaplib.IMAP4(self.host, self.port, timeout=5) as client:
            client.noop()

    def _fail(self, reason: str) -> None:
        self.kill()
        raise RuntimeError(f"Dovecot did not start ({reason}). Log tail:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The end of Dovecot's log and of its stderr, for error messages."""
        text = ""
        for path in (self.root / "stderr.log", self.log_path):
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    # -- configuration ---------------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add a login (read by Dovecot on the next login, running or not); its mail is created on use."""
        assert not set(name + password) & set(":\n"), "passwd-file fields cannot hold ':' or newlines"
        self.users[name] = password
        rawlog = self.root / "rawlog" / name
        rawlog.mkdir(mode=0o700, exist_ok=True)  # Dovecot writes a raw log only into an existing directory
        os.chown(rawlog, self.mail_uid, self.mail_gid)
        self._write_passwd()

    def _write_passwd(self) -> None:
        passwd = self.root / "passwd"
        tmp = passwd.with_suffix(".tmp")
        tmp.write_text("".join(f"{user}:{{PLAIN}}{pw}::::::\n" for user, pw in self.users.items()))
        tmp.replace(passwd)

    def _config(self) -> str:
        root = self.root
        if self.cert is not None and self.key is not None:
            tls = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{self.key}\nssl_min_protocol = TLSv1.2"
        else:
            tls = "ssl = no"
        capability = ""
        if self.disabled_capabilities:
            kept = [c for c in default_capabilities() if c.upper() not in self.disabled_capabilities]
            capability = "imap_capability = " + " ".join(kept)
        rawlog = f"protocol imap {{\n  rawlog_dir = {root}/rawlog/%u\n}}" if self.rawlog else ""
        return f"""\
# Written by tests/support/dovecot.py for one test.
instance_name = intake-test-dovecot
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
protocols = imap
listen = {self.host}
default_internal_user = root
default_login_user = {LOGIN_USER}
mail_uid = {self.mail_uid}
mail_gid = {self.mail_gid}
mail_home = {root}/mail/%u
mail_location = maildir:~/Maildir
mail_max_userip_connections = 100
auth_mechanisms = plain login
# Dovecot 2.3.19 still answers a failed login on its 500 ms failure timer, whatever this says.
auth_failure_delay = 0
disable_plaintext_auth = no
{tls}
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
{rawlog}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port or 0}
    ssl = yes
  }}
}}
service anvil {{
  # no growing delay after failed logins: tests log in wrongly on purpose
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    # -- clients ---------------------------------------------------------------------------------

    def client(self, user: str | None = None, password: str | None = None) -> imaplib.IMAP4:
        """A logged-in stdlib client on the plain port (the first user's, by default)."""
        user = user or next(iter(self.users))
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            client.login(user, password if password is not None else self.users[user])
        except BaseException:
            client.shutdown()
            raise
        return client

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting this server's certificate (`tls=True` only)."""
        assert self.cert is not None, "Dovecot(tls=True) has a certificate"
        return client_context(self.cert)

    def imap_commands(self, user: str | None = None) -> list[str]:
        """Every command a user's sessions sent after login (all users' by default), oldest first,
        without tags: `UID MOVE 1 Done`. A LOGIN is never in it: the raw log starts after authentication.
        """
        assert self.rawlog, "Dovecot(rawlog=True) records commands"
        lines: list[tuple[float, str]] = []
        for path in (self.root / "rawlog").glob(f"{user or '*'}/*.in"):
            for line in path.read_text(errors="replace").splitlines():
                stamp, _, rest = line.partition(" ")
                tag, _, command = rest.partition(" ")
                lines.append((float(stamp), command or tag))
        return [command for _, command in sorted(lines, key=lambda item: item[0])]

    # -- mail ------------------------------------------------------------------------------------

    def doveadm(self, *args: str, stdin: bytes | None = None) -> str:
        """Run `doveadm` against this server (which must be running, for its userdb) and return stdout."""
        return self._run(["doveadm", "-c", str(self.config_path), *args], stdin)

    def _run(self, argv: list[str], stdin: bytes | None = None, ok: Collection[int] = (0,)) -> str:
        result = subprocess.run(argv, input=stdin, capture_output=True, timeout=120)
        if result.returncode not in ok:
            command = " ".join([Path(argv[0]).name, *argv[3:]])
            raise RuntimeError(f"{command} exited {result.returncode}: {result.stderr.decode().strip()}")
        return result.stdout.decode()

    def status(self, user: str, folder: str = "INBOX") -> dict[str, int]:
        """`messages`, `uidnext` and `uidvalidity` of a folder, from Dovecot's own index."""
        out = self.doveadm("-f", "tab", "mailbox", "status", "-u", user, "messages uidnext uidvalidity", folder)
        names, values = (line.split("\t") for line in out.splitlines()[:2])
        row = dict(zip(names, values, strict=True))
        return {name: int(row[name]) for name in ("messages", "uidnext", "uidvalidity")}

    def message_count(self, user: str, folder: str = "INBOX") -> int:
        return self.status(user, folder)["messages"]

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        return self.status(user, folder)["uidvalidity"]

    def folder_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        out = self.doveadm("-f", "tab", "fetch", "-u", user, "uid", "mailbox", folder, "all")
        return [int(line) for line in out.splitlines()[1:] if line]

    def folders(self, user: str) -> list[str]:
        return self.doveadm("mailbox", "list", "-u", user).splitlines()

    def create_folder(self, user: str, name: str) -> None:
        """Create and subscribe a folder (`/` separates levels: `Processed/2025`)."""
        self.doveadm("mailbox", "create", "-u", user, "-s", name)

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX", sender: str = "mailer@example.org") -> int:
        """Deliver one message with dovecot-lda, as an MTA does, and return its UID."""
        if folder != "INBOX":
            self.status(user, folder)  # the LDA would quietly fall back to INBOX for a missing folder
        self._run(
            [str(LIBEXEC / "dovecot-lda"), "-c", str(self.config_path), "-d", user, "-m", folder, "-f", sender], raw
        )
        return self.status(user, folder)["uidnext"] - 1

    def deliver_many(self, user: str, messages: Iterable[bytes], folder: str = "INBOX") -> None:
        """Put many messages in a folder fast: Maildir files (tmp/ then rename into new/, as an MTA
        writing Maildir does), then one Dovecot sync that gives them UIDs in the order given."""
        self.status(user, folder)  # creates INBOX on first use; fails loudly for an unknown folder
        maildir = Path(self.doveadm("mailbox", "path", "-u", user, folder).strip())
        stamp, pid = int(time.time()), os.getpid()
        for raw in messages:
            self._sequence += 1
            # Dovecot numbers new files by the time in their names, so the sequence stands in for µs.
            name = f"{stamp}.M{self._sequence}P{pid}Q{self._sequence}.intake-test,S={len(raw)}"
            fd = os.open(maildir / "tmp" / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, raw)
                os.fchown(fd, self.mail_uid, self.mail_gid)
            finally:
                os.close(fd)
            os.rename(maildir / "tmp" / name, maildir / "new" / name)
        self.doveadm("force-resync", "-u", user, folder)

    def kick(self, user: str) -> None:
        """Disconnect the user's sessions (`* BYE Server shutting down.`) and wait until they are gone."""
        who = self.doveadm("who", user)
        pids = [int(pid) for group in re.findall(r"\(([\d ]+)\)", who) for pid in group.split()]
        if pids:
            self._run(["doveadm", "-c", str(self.config_path), "kick", user], ok=(0, 68))  # 68: already gone
            assert _wait_gone(pids=pids), f"sessions {pids} still running after doveadm kick"

    def bump_uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """Make Dovecot forget a folder's UIDs, as when a mailbox is rebuilt or restored: a new,
        higher UIDVALIDITY and the same messages renumbered from UID 1. Returns the new UIDVALIDITY.

        The user's open sessions are disconnected first (`doveadm kick`): Dovecot does not tell a
        session that has the folder selected, it would go on with the old UIDs.
        """
        before = self.uidvalidity(user, folder)
        self.kick(user)
        maildir = Path(self.doveadm("mailbox", "path", "-u", user, folder).strip())
        for path in [*maildir.glob("dovecot-uidlist*"), *maildir.glob("dovecot.index*")]:
            path.unlink()
        self.doveadm("force-resync", "-u", user, folder)
        after = self.uidvalidity(user, folder)
        assert after != before, f"UIDVALIDITY stayed {before}"
        return after
