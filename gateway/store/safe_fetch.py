"""Fetching a provider's media by URL without letting that URL reach into our own network (SSRF).

A media URL arrives in a webhook: it is data, not trust. Every hop (the URL and each redirect) must be
https, to a host on the allow-list, and every address that host resolves to must be public; we then
connect to the very address we checked (no second lookup an attacker's DNS could answer differently),
with TLS verified against the host name. A refusal happens before any connection is attempted.

Hosts in `trusted_hosts` skip the public-address rule: that is the operator's explicit choice for the
configured API base (a regional edge on a private link, or a local stand-in in tests). An allowed host
written with a leading dot (`.fbcdn.net`) allows its subdomains, for a provider whose CDN hosts vary.
Credentials (Basic, or a bearer token) go only to the first host, never to a redirect's. Size and total
time are capped.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

REDIRECTS = {301, 302, 303, 307, 308}
CHUNK = 65536


class FetchRefused(Exception):
    """The URL (or a redirect) may not be fetched: the reason is safe to show on a ticket."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchFailed(Exception):
    """The fetch was allowed but did not succeed (an HTTP error, a timeout): worth retrying.

    `status` is the HTTP status when the server answered one (an expired media link answers 404)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    url: str  # the URL that answered, after redirects


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise FetchRefused("the host does not resolve") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_allowed(host: str, allowed_hosts: frozenset[str]) -> bool:
    """The host is listed, or is a subdomain of a listed `.domain`."""
    if host in allowed_hosts:
        return True
    return any(h.startswith(".") and host.endswith(h) and len(host) > len(h) for h in allowed_hosts)


def check(url: str, allowed_hosts: frozenset[str], trusted_hosts: frozenset[str]) -> tuple[str, int, str]:
    """(host, port, address to connect to) for an allowed URL; FetchRefused before any connection otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise FetchRefused("only https is fetched")
    host = (parts.hostname or "").lower()
    if not is_allowed(host, allowed_hosts):
        raise FetchRefused("the host is not one of the provider's")
    try:
        port = parts.port or 443
    except ValueError:
        raise FetchRefused("the URL has an invalid port") from None
    addresses = resolve(host, port)
    if host not in trusted_hosts and not all(is_public(a) for a in addresses):
        raise FetchRefused("the host resolves to a private, loopback or link-local address")
    return host, port, addresses[0]


def fetch(
    url: str,
    *,
    allowed_hosts: frozenset[str],
    trusted_hosts: frozenset[str] = frozenset(),
    auth: tuple[str, str] | None = None,
    bearer: str = "",
    max_bytes: int,
    timeout_s: float,
    ca_file: str = "",
    max_redirects: int = 5,
) -> Fetched:
    deadline = time.monotonic() + timeout_s
    context = ssl.create_default_context(cafile=ca_file or None)
    first_host = ""
    for _ in range(max_redirects + 1):
        host, port, address = check(url, allowed_hosts, trusted_hosts)
        first_host = first_host or host
        headers = {"User-Agent": "intake-gateway", "Accept": "*/*"}
        if auth and host == first_host:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        elif bearer and host == first_host:
            headers["Authorization"] = f"Bearer {bearer}"
        status, location, body = _get(context, host, port, address, _path(url), headers, deadline, max_bytes)
        if status in REDIRECTS and location:
            url = urljoin(url, location)
            continue
        if status != 200:
            raise FetchFailed(f"HTTP {status}", status=status)
        return Fetched(body, url)
    raise FetchRefused("too many redirects")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchFailed("took too long")
    return left


def _get(
    context: ssl.SSLContext, host: str, port: int, address: str, path: str, headers: dict[str, str],
    deadline: float, max_bytes: int,
) -> tuple[int, str, bytes]:  # fmt: skip
    # The connection object first: a deadline that runs out between the two must not strand a connected socket.
    conn = http.client.HTTPSConnection(host, port, timeout=_remaining(deadline), context=context)
    try:
        raw = socket.create_connection((address, port), timeout=_remaining(deadline))
    except OSError as exc:
        raise FetchFailed(f"cannot connect ({type(exc).__name__})") from None
    try:
        tls = context.wrap_socket(raw, server_hostname=host)  # the address we checked, the name we verify
        conn.sock = tls
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        if resp.status in REDIRECTS:
            return resp.status, resp.getheader("Location") or "", b""
        declared = resp.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchRefused(f"larger than {max_bytes} bytes")
        chunks, size = [], 0
        while True:
            tls.settimeout(_remaining(deadline))
            chunk = resp.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FetchRefused(f"larger than {max_bytes} bytes")
            chunks.append(chunk)
        return resp.status, "", b"".join(chunks)
    except (OSError, http.client.HTTPException) as exc:
        raise FetchFailed(f"{type(exc).__name__} while fetching") from None
    finally:
        conn.close()
        raw.close()  # a no-op once TLS has taken the socket over; the socket itself if the handshake never began
