"""Abuse limits on the two doors anyone can knock on: the family form (`/form`) and the JSON intake.

Per client (its address: the connecting one, or the one a trusted proxy names in X-Forwarded-For;
an IPv6 client by its /64, which one household gets) and per email address or phone number that a
request names, so that nobody can make the gateway write to, or mail, someone else's address over
and over. Past a limit the answer is 429 with Retry-After. The counts live in Redis, shared by every
web process (gateway/store/rate_limit.py), under keyed hashes: no address is written to Redis in clear.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

import redis.asyncio as aioredis

from gateway import keys
from gateway.errors import TooManyRequests
from gateway.macs import mac_for
from gateway.settings import Settings
from gateway.settings.service import parse_rate
from gateway.store.rate_limit import Bucket, Rate, RateLimiter, retry_after

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _rate(text: str) -> Rate | None:
    parsed = parse_rate(text)
    return Rate(*parsed) if parsed else None


class Limits:
    def __init__(self, settings: Settings, client: aioredis.Redis) -> None:
        conf = settings.rate_limits
        self.form_rate = _rate(conf.form_per_client)
        self.hook_rate = _rate(conf.hook_per_client)
        self.address_rate = _rate(conf.per_address)
        self.trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in settings.server.trusted_proxies
        )
        self._mac = mac_for(settings.signing_key())
        # The same few clients (a site's server, a proxy, a school's address) send most requests: parsing the
        # address and hashing it cost more than the rest of the check.
        self._client_key = functools.lru_cache(maxsize=4096)(self._client_key_uncached)
        self.limiter = RateLimiter(client)

    def client_of(self, remote: str, forwarded_for: str | None) -> str:
        """Who is asking: the connecting address, unless it is a trusted proxy's. Then, reading X-Forwarded-For
        from the right (each proxy appends the address it saw), the first address that is not a trusted proxy;
        what lies left of it was written by the client itself and proves nothing."""
        client = remote
        if forwarded_for and self._trusted(remote):
            for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
                try:
                    ipaddress.ip_address(hop)
                except ValueError:
                    break  # not an address: keep the last proxy's
                client = hop
                if not self._trusted(hop):
                    break
        return client

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def _key(self, kind: str, value: str) -> str:
        return keys.rate_limit(kind, self._mac.digest(f"limit\x1f{kind}\x1f{value}".encode())[:12].hex())

    def _client_bucket(self, kind: str, rate: Rate | None, client: str) -> list[Bucket]:
        return [] if rate is None else [Bucket(self._client_key(kind, client), rate, "client")]

    def _client_key_uncached(self, kind: str, client: str) -> str:
        try:
            ip = ipaddress.ip_address(client)
        except ValueError:
            return self._key(kind, client)
        if ip.version == 6 and ip.ipv4_mapped is None:
            client = str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return self._key(kind, client)

    def _address_buckets(self, addresses: Sequence[str | None]) -> list[Bucket]:
        if self.address_rate is None:
            return []
        return [Bucket(self._key("address", a.lower()), self.address_rate, "address") for a in addresses if a]

    async def _check(self, buckets: list[Bucket]) -> None:
        verdict = await self.limiter.check(buckets)
        if verdict.full is not None:
            after = retry_after(verdict.wait_s)
            whom = "from this client" if verdict.full.kind == "client" else "for this email address or phone number"
            raise TooManyRequests(f"too many requests {whom}: try again in {after} seconds", retry_after=after)

    async def form_client(self, client: str) -> None:
        """Before a family's form is read: TooManyRequests when this client has sent too many."""
        await self._check(self._client_bucket("form", self.form_rate, client))

    async def addresses(self, *addresses: str | None) -> None:
        """Before a request naming these addresses is stored (normalized: lower-case email, E.164 phone)."""
        await self._check(self._address_buckets(addresses))

    async def hook(self, client: str, *addresses: str | None) -> None:
        """A JSON intake post: its client and its addresses, in one round trip."""
        await self._check(self._client_bucket("hook", self.hook_rate, client) + self._address_buckets(addresses))
