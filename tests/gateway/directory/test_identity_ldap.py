"""Who is asking, from a real OpenLDAP server: bind, search by mail and phone, households, down and slow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from gateway.directory.base import DirectoryUnavailable, LookupCache
from gateway.directory.identity import IdentityResolver
from gateway.directory.ldap import LdapDirectory
from gateway.models import InboundMessage, Requester
from gateway.settings import LdapSettings
from tests.directory_fixtures import SEED, ldap_settings
from tests.support.slapd import Slapd, person
from tests.support.sockets import sockets_to

TIMEOUT_MS = 300
TIMEOUT_S = TIMEOUT_MS / 1000
# What "within the bound" allows on a shared, busy 2-core machine on top of the timeout itself.
SLACK_S = 0.25


MakeResolver = Callable[..., IdentityResolver]


@pytest.fixture
def resolver() -> Iterator[MakeResolver]:
    """Builds resolvers against a server; closes their LDAP connections after the test."""
    made: list[IdentityResolver] = []

    def make(server: Slapd, **overrides: object) -> IdentityResolver:
        conf = LdapSettings.model_validate(ldap_settings(server, **overrides))
        res = IdentityResolver(
            [LdapDirectory(conf)], LookupCache(900, 120, 1000), timeout_s=conf.timeout_ms / 1000, retry_after_s=30
        )
        made.append(res)
        return res

    yield make
    for res in made:
        res.close()


def sms(sender: str) -> InboundMessage:
    return InboundMessage(id="m1", channel="sms", account="+15550000000", sender=sender, text="bus late")


def mail(address: str, name: str = "") -> InboundMessage:
    requester = Requester(display_name=name, email=address)
    return InboundMessage(id="m2", channel="email", account="help", sender=address, requester=requester, text="hi")


async def test_staff_email_resolves_to_role_school_and_language_from_ldap(slapd: Slapd, resolver: MakeResolver) -> None:
    found = await resolver(slapd).resolve(mail("Maria.Rivera@district.test"))
    r = found.message.requester
    assert (r.display_name, r.role, r.campus, r.directory_id) == ("Maria Rivera", "staff", "lhs", "mrivera")
    assert found.directory_language == "es"
    assert found.message.campus == "lhs"


async def test_a_phone_written_with_punctuation_in_ldap_matches_the_e164_sender(
    slapd: Slapd, resolver: MakeResolver
) -> None:
    found = await resolver(slapd).resolve(sms("+15552010102"))  # stored as "(555) 201-0102" in mobile
    assert found.message.requester.directory_id == "jchen"
    assert found.directory_language == "zh"  # preferredLanguage zh-Hans-CN


async def test_a_home_phone_shared_by_two_parents_resolves_to_their_household(
    slapd: Slapd, resolver: MakeResolver
) -> None:
    found = await resolver(slapd).resolve(sms("+15555010001"))
    r = found.message.requester
    assert found.match is not None and found.match.household and found.match.members == 2
    assert r.role == "parent"
    assert r.display_name == "Okafor household"
    assert r.directory_id is not None and r.directory_id.startswith("household:")
    assert set(r.campuses) == {"jes", "wms"}
    assert r.phone == "+15555010001"


async def test_the_channels_own_name_is_kept_and_blanks_are_filled(slapd: Slapd, resolver: MakeResolver) -> None:
    found = await resolver(slapd).resolve(mail("j.chen@district.test", name="Johnny C"))
    r = found.message.requester
    assert r.display_name == "Johnny C"
    assert r.email == "j.chen@district.test"
    assert (r.role, r.campus) == ("staff", "wms")


async def test_an_unknown_address_leaves_the_message_as_the_channel_sent_it(
    slapd: Slapd, resolver: MakeResolver
) -> None:
    message = mail("nobody@example.com", name="Someone")
    found = await resolver(slapd).resolve(message)
    assert found.message == message
    assert found.match is None


async def test_a_wrong_bind_password_is_a_directory_down_not_a_failed_request(
    slapd: Slapd, resolver: MakeResolver
) -> None:
    res = resolver(slapd, bind_password="not-the-password")
    message = mail("maria.rivera@district.test")
    found = await res.resolve(message)
    assert found.message == message
    health = res.health()["ldap"]
    assert health["ok"] is False and "invalidCredentials" in str(health["error"])


async def test_answers_are_cached_so_a_directory_that_goes_down_still_knows_recent_requesters(
    slapd: Slapd, resolver: MakeResolver
) -> None:
    res = resolver(slapd)
    first = await res.resolve(mail("maria.rivera@district.test"))
    slapd.stop()
    again = await res.resolve(mail("maria.rivera@district.test"))
    assert again.message.requester.directory_id == first.message.requester.directory_id == "mrivera"


async def test_ldap_down_intake_goes_on_within_the_timeout(slapd: Slapd, resolver: MakeResolver) -> None:
    res = resolver(slapd, timeout_ms=TIMEOUT_MS)
    slapd.stop()
    message = mail("maria.rivera@district.test", name="Maria")
    started = time.monotonic()
    found = await res.resolve(message)
    elapsed = time.monotonic() - started
    assert found.message == message
    assert elapsed < TIMEOUT_S + SLACK_S
    assert res.health()["ldap"]["ok"] is False


async def test_ldap_hung_intake_goes_on_within_the_timeout_and_stops_asking_for_a_while(
    slapd: Slapd, resolver: MakeResolver
) -> None:
    res = resolver(slapd, timeout_ms=TIMEOUT_MS)
    slapd.freeze()  # accepts connections, answers nothing
    try:
        message = mail("maria.rivera@district.test", name="Maria")
        started = time.monotonic()
        found = await res.resolve(message)
        first = time.monotonic() - started
        started = time.monotonic()
        again = await res.resolve(mail("j.chen@district.test"))
        second = time.monotonic() - started
    finally:
        slapd.thaw()
    assert found.message == message
    assert again.match is None
    assert TIMEOUT_S * 0.9 <= first < TIMEOUT_S + SLACK_S  # it did wait for the directory, then gave up
    assert second < 0.05  # down for retry_after_s: not asked again


async def test_many_concurrent_requests_with_a_hung_directory_all_finish_within_the_timeout(
    slapd: Slapd, resolver: MakeResolver
) -> None:
    res = resolver(slapd, timeout_ms=TIMEOUT_MS)
    slapd.freeze()
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(res.resolve(mail(f"parent{i}@example.net")) for i in range(50)))
        elapsed = time.monotonic() - started
    finally:
        slapd.thaw()
    assert len(results) == 50 and all(r.match is None for r in results)
    assert elapsed < TIMEOUT_S + SLACK_S


async def test_a_lookup_abandoned_for_being_slow_still_fills_the_cache_when_it_answers(
    slapd: Slapd, resolver: MakeResolver
) -> None:
    res = resolver(slapd, timeout_ms=20)
    slapd.freeze()
    first = await res.resolve(mail("maria.rivera@district.test"))
    slapd.thaw()
    deadline = time.monotonic() + 5
    while len(res.cache) == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    hit, match = res.cache.get("ldap", "email", "maria.rivera@district.test")
    assert first.match is None
    assert hit and match is not None and match.directory_id == "mrivera"


@pytest.mark.parametrize("attribute", ["(uid=*)", "*)(uid=*"])
async def test_filter_characters_in_an_address_cannot_widen_the_search(
    slapd: Slapd, resolver: MakeResolver, attribute: str
) -> None:
    found = await resolver(slapd).resolve(mail(f"a{attribute}@example.net"))
    assert found.match is None


async def test_not_found_is_remembered_for_the_negative_ttl(slapd: Slapd, resolver: MakeResolver) -> None:
    res = resolver(slapd)
    assert (await res.resolve(mail("new.hire@district.test"))).match is None
    slapd.add(person("nhire", cn="New Hire", sn="Hire", displayName="New Hire", mail="new.hire@district.test"))
    assert (await res.resolve(mail("new.hire@district.test"))).match is None  # still the cached "no"
    res.cache.clear()  # what negative_cache_ttl_s expiring does
    found = await res.resolve(mail("new.hire@district.test"))
    assert found.match is not None and found.match.role == "staff"  # default_role: employeeType is empty


async def test_ldaps_with_the_districts_ca_file_resolves(resolver: MakeResolver) -> None:
    with Slapd(SEED, tls=True) as server:
        assert server.url.startswith("ldaps://")
        found = await resolver(server, ca_file=str(server.cert)).resolve(mail("maria.rivera@district.test"))
    assert found.message.requester.directory_id == "mrivera"


async def test_ldaps_with_a_certificate_nobody_vouches_for_is_refused(resolver: MakeResolver) -> None:
    with Slapd(SEED, tls=True) as server:
        res = resolver(server)  # no ca_file: the system's CAs do not know this certificate
        message = mail("maria.rivera@district.test", name="Maria")
        found = await res.resolve(message)
        health = res.health()["ldap"]
    assert found.message == message
    assert health["ok"] is False


async def test_a_directory_restart_between_lookups_costs_no_lookup(slapd: Slapd, resolver: MakeResolver) -> None:
    res = resolver(slapd, retry_after_s=30)
    assert (await res.resolve(mail("maria.rivera@district.test"))).match is not None
    slapd.stop()
    slapd.start()  # the kept connection is now dead; the server is fine
    found = await res.resolve(mail("j.chen@district.test"))
    assert found.match is not None and found.match.directory_id == "jchen"


def test_a_lookup_after_close_opens_no_connection(slapd: Slapd) -> None:
    """A lookup still running in a thread when the process shuts down must not open a socket nobody closes."""
    directory = LdapDirectory(LdapSettings.model_validate(ldap_settings(slapd)))
    assert [e.display_name for e in directory.lookup("email", "maria.rivera@district.test")] == ["Maria Rivera"]
    directory.close()
    with pytest.raises(DirectoryUnavailable, match="closed"):
        directory.lookup("email", "maria.rivera@district.test")
    assert sockets_to(slapd.port) == 0
