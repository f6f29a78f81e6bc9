"""A real OpenLDAP server (slapd) for a test: its own directory, port, config and seeded entries.

The config is a slapd.conf written here (mdb backend in the test's directory, the schemas Debian ships),
the entries are loaded offline with slapadd before the server starts, and only a bound account may read
(anonymous binds see nothing), so a lookup that works proves the bind worked. slapd runs in the
foreground (`-d 0`) in its own process group so a test can stop, kill, or freeze it (SIGSTOP: the port
still accepts connections but nothing answers, which is what a hung directory looks like).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.support.dovecot import self_signed_cert
from tests.support.redis_server import free_port

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")

BASE_DN = "dc=district,dc=test"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "admin-secret-5c2e"
BIND_DN = f"cn=intake,ou=services,{BASE_DN}"
BIND_PASSWORD = "intake-bind-secret-3f9a"


class Slapd:
    """A private slapd on 127.0.0.1:`port` serving BASE_DN, seeded from LDIF text."""

    host = "127.0.0.1"

    def __init__(self, seed_ldif: str, port: int | None = None, *, tls: bool = False) -> None:
        assert SLAPD.exists(), "slapd missing: `make system` installs it"
        self.root = Path(tempfile.mkdtemp(prefix="slapd-"))
        self.port = port or free_port()
        self.cert: Path | None = None
        self.key: Path | None = None
        if tls:  # ldaps:// only, with a throwaway certificate for 127.0.0.1
            self.cert, self.key = self_signed_cert(self.root / "tls")
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False  # once started, the port is known to clients and stays
        (self.root / "db").mkdir()
        self.config_path = self.root / "slapd.conf"
        self.config_path.write_text(self._config())
        (self.root / "seed.ldif").write_text(_base_entries() + seed_ldif)
        subprocess.run(
            [str(SLAPADD), "-f", str(self.config_path), "-l", str(self.root / "seed.ldif")],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"{'ldaps' if self.cert else 'ldap'}://{self.host}:{self.port}"

    def _config(self) -> str:
        schemas = "\n".join(f"include {SCHEMA_DIR / n}.schema" for n in ("core", "cosine", "inetorgperson"))
        tls = f"TLSCertificateFile {self.cert}\nTLSCertificateKeyFile {self.key}" if self.cert else ""
        return f"""\
# Written by tests/support/slapd.py for one test.
{schemas}
{tls}
pidfile {self.root}/slapd.pid
argsfile {self.root}/slapd.args
modulepath {MODULE_DIR}
moduleload back_mdb
database mdb
maxsize 16777216
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {self.root}/db
index objectClass eq
index mail,telephoneNumber,mobile,homePhone eq,sub
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
"""

    def start(self) -> None:
        """Start and return once this slapd, not whatever else holds the port, is listening.

        Other test runs share the machine: the port chosen in __init__ can be taken before slapd binds it, and
        another slapd seeded the same way would then answer for this one (a "frozen" server that answers). On
        the first start such a port is swapped for a fresh one; a restart keeps its port (clients know it).
        """
        assert self.proc is None, "slapd already running"
        for _ in range(3):
            if self._start_once() or self.started:
                break
            self.port = free_port()  # lost the port before binding it: nobody knows this one yet
        else:
            self._fail("three free ports were taken before slapd could bind them")
        self.started = True

    def _start_once(self) -> bool:
        """True once listening; False when the port turned out to be taken."""
        with open(self.root / "stderr.log", "ab") as stderr:
            self.proc = subprocess.Popen(
                [str(SLAPD), "-d", "0", "-h", f"{self.url}/", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self._listening():
            if self.proc.poll() is not None:
                if self._listeners() and not self.started:  # someone else listens there (-d 0 says nothing)
                    self.proc = None
                    return False
                self._fail(f"slapd exited with status {self.proc.returncode}")
            if time.monotonic() > deadline:
                self._fail("not listening after 10 s")
            time.sleep(0.01)
        return True

    def _listening(self) -> bool:
        """A listening socket on our port is open in our slapd (a connect would also reach someone else's)."""
        assert self.proc is not None
        listeners = self._listeners()
        fds = Path(f"/proc/{self.proc.pid}/fd")
        with contextlib.suppress(OSError):  # the process may be exiting right now
            return bool(listeners) and any(os.readlink(fd) in listeners for fd in fds.iterdir())
        return False

    def _listeners(self) -> set[str]:
        """The sockets listening on our port, whoever owns them, as /proc/<pid>/fd links name them."""
        found: set[str] = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == self.port:  # 0A: LISTEN
                        found.add(f"socket:[{fields[9]}]")
        return found

    def add(self, ldif: str) -> None:
        """Add entries to the running server, as its administrator (ldapadd from ldap-utils)."""
        subprocess.run(
            ["ldapadd", "-x", "-H", self.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD],
            input=ldif.encode(), check=True, capture_output=True, timeout=10,
        )  # fmt: skip

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def freeze(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel, but no request is ever answered.

        Returns once every thread of slapd is stopped: kill() only queues the signal, and on a busy machine a
        thread stops when it is next scheduled, so until then the test would be racing it.
        """
        assert self.proc is not None and self.proc.poll() is None, "slapd is not running"
        os.killpg(self.proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not self._stopped():
            if time.monotonic() > deadline:
                raise RuntimeError(f"slapd (pid {self.proc.pid}) still running 10 s after SIGSTOP")
            time.sleep(0.005)

    def _stopped(self) -> bool:
        assert self.proc is not None
        states = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that just ended
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        return bool(states) and all(state in ("T", "t") for state in states)

    def thaw(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Slapd:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def _fail(self, reason: str) -> None:
        self._signal(signal.SIGKILL)
        log = (self.root / "stderr.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"slapd did not start ({reason}). stderr:\n{log}")


def _base_entries() -> str:
    return f"""\
dn: {BASE_DN}
objectClass: dcObject
objectClass: organization
dc: district
o: Test School District

dn: ou=services,{BASE_DN}
objectClass: organizationalUnit
ou: services

dn: {BIND_DN}
objectClass: person
objectClass: simpleSecurityObject
cn: intake
sn: intake
userPassword: {BIND_PASSWORD}

dn: ou=people,{BASE_DN}
objectClass: organizationalUnit
ou: people

"""


def person(uid: str, **attributes: str | list[str]) -> str:
    """An inetOrgPerson under ou=people, in LDIF."""
    lines = [f"dn: uid={uid},ou=people,{BASE_DN}", "objectClass: inetOrgPerson", f"uid: {uid}"]
    for name, value in attributes.items():
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{name}: {v}")
    return "\n".join(lines) + "\n\n"
