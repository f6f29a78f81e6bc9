"""Who is asking, from CSV exports: column mapping, households, several files, reload on change, bad files."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from gateway.directory.base import LookupCache, Match
from gateway.directory.csv_files import CsvDirectory
from gateway.directory.identity import IdentityResolver, lookup_keys, merge
from gateway.models import InboundMessage, Requester
from gateway.settings import CsvSource, IdentitySettings
from tests.directory_fixtures import PAYLOADS, csv_settings
from tests.support.gateway import intake, write_config
from tests.support.redis_server import RedisServer


def sources(directory: Path = PAYLOADS) -> list[CsvSource]:
    return [CsvSource.model_validate(s) for s in csv_settings(directory)]


def resolver(directory: Path = PAYLOADS, check_every_s: float = 5.0) -> IdentityResolver:
    return IdentityResolver(
        [CsvDirectory(sources(directory), check_every_s=check_every_s)],
        LookupCache(900, 120, 1000),
        timeout_s=0.3,
        retry_after_s=30,
    )


def sms(sender: str, text: str = "the bus is late") -> InboundMessage:
    return InboundMessage(id="m1", channel="sms", account="+15550000000", sender=sender, text=text)


def slack(email: str) -> InboundMessage:
    # The Slack channel turns the user id into the workspace profile's email (users.info).
    requester = Requester(email=email, handles={"slack": "U024BE7LH"})
    return InboundMessage(id="m2", channel="slack", account="T0001", sender="U024BE7LH", requester=requester, text="x")


async def test_a_phone_shared_by_a_family_resolves_to_the_household_not_one_guardian() -> None:
    found = await resolver().resolve(sms("+15553010001"))
    r = found.message.requester
    assert r.directory_id == "household:H100"
    assert r.display_name == "Tran household"
    assert r.role == "parent"
    assert set(r.campuses) == {"jes", "lhs"}
    assert found.directory_language == "vi"
    assert found.message.campus is None  # two schools: the request is not about one of them for sure


async def test_a_guardians_own_mobile_resolves_to_that_guardian() -> None:
    found = await resolver().resolve(sms("+15553010099"))
    assert found.message.requester.directory_id == "G100-2"
    assert found.message.requester.display_name == "Minh Tran"
    assert found.message.campus == "lhs"


async def test_a_guardian_with_two_children_has_both_schools() -> None:
    found = await resolver().resolve(slack("Lan.Tran@example.net"))
    r = found.message.requester
    assert (r.directory_id, r.role) == ("G100-1", "parent")
    assert set(r.campuses) == {"jes", "lhs"}


async def test_a_slack_users_email_finds_staff_in_the_second_file() -> None:
    found = await resolver().resolve(slack("diego.flores@district.test"))
    r = found.message.requester
    assert (r.display_name, r.role, r.campus, r.directory_id) == ("Diego Flores", "staff", "lhs", "E2")
    assert r.handles == {"slack": "U024BE7LH"}
    assert found.directory_language == "es"


async def test_a_student_row_gets_the_student_role_from_the_role_map() -> None:
    found = await resolver().resolve(slack("tuan.tran@students.district.test"))
    assert found.message.requester.role == "student"


async def test_language_names_and_bcp47_tags_in_exports_become_codes() -> None:
    zhang = await resolver().resolve(sms("+15553030003"))
    perez = await resolver().resolve(sms("+15553020002"))
    assert (zhang.directory_language, perez.directory_language) == ("zh", "es")


def test_lookup_keys_take_the_channels_email_and_phone_and_a_phone_sender() -> None:
    message = InboundMessage(
        id="m", channel="webform", account="web", sender="A@Example.org", text="x",
        requester=Requester(email="A@Example.org", phone="(555) 302-0002"),
    )  # fmt: skip
    assert lookup_keys(message) == [("email", "a@example.org"), ("phone", "+15553020002")]
    assert lookup_keys(sms("+15553020002")) == [("phone", "+15553020002")]


async def test_a_changed_file_is_reloaded_off_the_request_path(tmp_path: Path) -> None:
    for name in ("families.csv", "staff.csv"):
        shutil.copy(PAYLOADS / name, tmp_path / name)
    res = resolver(tmp_path, check_every_s=0.01)
    assert (await res.resolve(slack("new.teacher@district.test"))).match is None
    staff = tmp_path / "staff.csv"
    staff.write_text(staff.read_text() + "E3,Hoa Pham,new.teacher@district.test,,,jes,vi\n")
    os.utime(staff, ns=(staff.stat().st_atime_ns, staff.stat().st_mtime_ns + 1_000_000_000))
    await asyncio.sleep(0.02)
    found = None
    deadline = time.monotonic() + 10  # a bound in time, not in tries: a busy machine runs the thread late
    while found is None and time.monotonic() < deadline:  # the reload runs on a thread; requests do not wait
        found = (await res.resolve(slack("new.teacher@district.test"))).match
        await asyncio.sleep(0.01)
    assert found is not None and found.display_name == "Hoa Pham"
    res.close()


def test_a_file_that_becomes_unreadable_keeps_its_last_good_rows(tmp_path: Path) -> None:
    shutil.copy(PAYLOADS / "staff.csv", tmp_path / "staff.csv")
    directory = CsvDirectory([sources(tmp_path)[1]])
    (tmp_path / "staff.csv").write_text("who,what\nx,y\n")
    directory.reload()
    assert [e.id for e in directory.lookup("email", "grace.kim@district.test")] == ["E1"]
    health = directory.health()
    assert health["ok"] is False
    assert "missing column(s)" in str(health["files"])


def test_health_counts_loaded_rows_and_names_no_one() -> None:
    health = CsvDirectory(sources()).health()
    assert health["ok"] is True and health["rows"] == 8
    assert "Tran" not in str(health) and "@" not in str(health)


def test_a_missing_file_is_reported_not_fatal(tmp_path: Path) -> None:
    directory = CsvDirectory([CsvSource(path=str(tmp_path / "nope.csv"))])
    assert directory.lookup("email", "a@b.org") == []
    assert directory.health()["ok"] is False


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"ldap": {"url": "ldap://127.0.0.1:389"}}, "base_dn is required"),
        ({"ldap": {"url": "http://dir"}}, "String should match pattern"),
        ({"ldap": {"timeout_ms": 0}}, "greater than or equal to 10"),
        ({"csv": [{"path": "x.csv", "role": "wizard"}]}, "Input should be"),
    ],
)
def test_bad_identity_settings_are_refused_naming_the_problem(section: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        IdentitySettings.model_validate(section)


def test_no_directory_configured_means_no_identity_step() -> None:
    assert IdentityResolver.from_settings(IdentitySettings()) is None


def test_cached_answers_expire_after_their_ttl() -> None:
    now = [0.0]
    cache = LookupCache(ttl_s=10, negative_ttl_s=2, max_entries=100, clock=lambda: now[0])
    cache.put("ldap", "email", "a@x.org", Match("a", "A", "staff"))
    cache.put("ldap", "email", "b@x.org", None)
    now[0] = 3
    assert cache.get("ldap", "email", "a@x.org")[0] is True
    assert cache.get("ldap", "email", "b@x.org") == (False, None)  # the "no" expired first
    now[0] = 11
    assert cache.get("ldap", "email", "a@x.org") == (False, None)


def test_the_cache_drops_the_least_recently_used_past_its_size() -> None:
    cache = LookupCache(ttl_s=10, negative_ttl_s=10, max_entries=2)
    for i in range(3):
        cache.put("csv", "phone", f"+1555000000{i}", None)
    assert len(cache) == 2
    assert cache.get("csv", "phone", "+15550000000")[0] is False


def test_blanks_in_the_directory_never_replace_what_the_channel_said() -> None:
    channel = Requester(
        display_name="Ana P.", email="ana@example.org", phone="+15553020002", campus="lhs", role="parent"
    )
    message = InboundMessage(id="m", channel="webform", account="web", sender="ana@example.org", text="x",
                             campus="lhs", requester=channel)  # fmt: skip
    r = merge(message, "email", "ana@example.org", Match("G9", "", "staff", (), None, "csv"))
    assert (r.requester.display_name, r.requester.phone, r.requester.campus, r.requester.role) == (
        "Ana P.", "+15553020002", "lhs", "parent"
    )  # fmt: skip
    assert r.requester.directory_id == "G9"
    assert r.campus == "lhs"


def test_an_export_whose_columns_do_not_match_the_mapping_fails_check_config_and_serve(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    broken = csv_settings()
    broken[1]["columns"]["email"] = ["e_mail"]
    config = write_config(tmp_path, redis_server.url, identity={"csv": broken})
    for command in ("check-config", "serve"):
        result = intake(config, command, timeout=30)
        assert result.returncode == 2
        assert f"{config}: key identity.csv[1].path:" in result.stderr
        assert "missing column(s) e_mail" in result.stderr
        assert "identity.csv[1].columns" in result.stderr


def test_a_broken_file_is_reported_once_not_at_every_check(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "staff.csv").write_text("who,what\nx,y\n")
    directory = CsvDirectory([sources(tmp_path)[1]], check_every_s=0)
    for _ in range(3):
        directory.reload()
    assert sum("not loaded" in r.message for r in caplog.records) == 1
