"""A protected Redis for a test: what the servers and sentinels of a set demand of their clients (an ACL user and
password on the servers, the sentinels' own requirepass, TLS with client certificates from a test CA), as
redis-server options, sentinel.conf lines, redis-py arguments and gateway settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the test CA's certificate
    cert: Path  # the servers' and sentinels' certificate, for 127.0.0.1 and localhost
    key: Path
    client_cert: Path  # the gateway's client certificate (the servers ask for one: tls-auth-clients yes)
    client_key: Path

    @classmethod
    def issue(cls, directory: Path, ca: trustme.CA | None = None) -> TlsFiles:
        """Fresh files from `ca` (a new test CA when None) in `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        ca = ca or trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("intake-gateway.test")
        files = cls(*(directory / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")))
        ca.cert_pem.write_to_path(files.ca)
        server.cert_chain_pems[0].write_to_path(files.cert)
        server.private_key_pem.write_to_path(files.key)
        client.cert_chain_pems[0].write_to_path(files.client_cert)
        client.private_key_pem.write_to_path(files.client_key)
        return files


@dataclass(frozen=True)
class Guard:
    username: str = ""  # the servers' ACL user the gateway (and replication, and the sentinels) signs in as
    password: str = ""
    sentinel_password: str = ""  # the sentinels' own requirepass
    tls: TlsFiles | None = None

    def _tls_lines(self) -> list[tuple[str, ...]]:
        if self.tls is None:
            return []
        return [
            ("tls-cert-file", str(self.tls.cert)),
            ("tls-key-file", str(self.tls.key)),
            ("tls-ca-cert-file", str(self.tls.ca)),
            ("tls-auth-clients", "yes"),
            ("tls-replication", "yes"),  # replicas, and sentinels, reach the servers over TLS too
        ]

    def server_args(self, port: int) -> tuple[str, ...]:
        """redis-server options (after the plain ones, so `--port 0` wins when the port is TLS's)."""
        lines: list[tuple[str, ...]] = []
        if self.username:
            account = ("user", self.username, "on", f">{self.password}", "~*", "&*", "+@all")
            lines += [("user", "default", "off"), account]
            lines += [("masteruser", self.username), ("masterauth", self.password)]
        elif self.password:
            lines += [("requirepass", self.password), ("masterauth", self.password)]
        if self.tls is not None:
            lines += [("port", "0"), ("tls-port", str(port)), *self._tls_lines()]
        return tuple(part for line in lines for part in (f"--{line[0]}", *line[1:]))

    def sentinel_lines(self, port: int, master_name: str) -> str:
        """sentinel.conf lines: its own password (and the one it gives the other sentinels), the servers' account."""
        lines: list[tuple[str, ...]] = []
        if self.sentinel_password:
            lines += [("requirepass", self.sentinel_password), ("sentinel", "sentinel-pass", self.sentinel_password)]
        if self.username:
            lines.append(("sentinel", "auth-user", master_name, self.username))
        if self.password:
            lines.append(("sentinel", "auth-pass", master_name, self.password))
        if self.tls is not None:
            lines += [("port", "0"), ("tls-port", str(port)), *self._tls_lines()]
        return "".join(" ".join(line) + "\n" for line in lines)

    def _tls_kwargs(self) -> dict[str, Any]:
        if self.tls is None:
            return {}
        return {
            "ssl": True,
            "ssl_ca_certs": str(self.tls.ca),
            "ssl_certfile": str(self.tls.client_cert),
            "ssl_keyfile": str(self.tls.client_key),
        }

    def server_kwargs(self) -> dict[str, Any]:
        """redis-py arguments for a test's own client of a server."""
        credentials = {"username": self.username or None, "password": self.password or None}
        return {**{k: v for k, v in credentials.items() if v}, **self._tls_kwargs()}

    def sentinel_kwargs(self) -> dict[str, Any]:
        return {**({"password": self.sentinel_password} if self.sentinel_password else {}), **self._tls_kwargs()}

    def settings(self) -> dict[str, Any]:
        """The gateway's `redis` settings for this guard."""
        out: dict[str, Any] = {}
        for key, value in (
            ("username", self.username),
            ("password", self.password),
            ("sentinel_password", self.sentinel_password),
        ):
            if value:
                out[key] = value
        if self.tls is not None:
            out |= {
                "tls": True,
                "tls_ca_file": str(self.tls.ca),
                "tls_cert_file": str(self.tls.client_cert),
                "tls_key_file": str(self.tls.client_key),
            }
        return out

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.sentinel_password) if s]


OPEN = Guard()  # nothing asked: the servers and sentinels of an unprotected set
