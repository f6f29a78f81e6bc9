"""Outside Meta's window, a WhatsApp reply may go to the family's own email address from the directory: the same
person or household behind the number, never a student's school account, never a staff address, never a guess
between unrelated people sharing a phone."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from gateway.directory.csv_files import CsvDirectory
from gateway.directory.own_email import directory_email
from gateway.settings import IdentitySettings
from tests.channels.meta_support import meta_config, meta_gateway, show, wa_text, whatsapp, work
from tests.directory_fixtures import csv_settings, ldap_settings
from tests.support.meta_api import MetaStandIn
from tests.support.redis_server import RedisServer
from tests.support.slapd import Slapd
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import DEADLINE_S

TRAN_WA = "15553010001"  # the Tran household's home phone in tests/payloads/directory/families.csv
STAFF_WA = "15554010001"  # Grace Kim's work phone in tests/payloads/directory/staff.csv
HOURS = 3600
FAMILY_COLUMNS = {"id": "contact_id", "display_name": "contact_name", "email": ["email"], "phone": ["phone"],
                  "role": "relationship", "household": "household_id", "school": "school",
                  "language": "language"}  # fmt: skip


def email_channel(smtp_sink: SmtpSink) -> dict[str, Any]:
    smtp = {"host": smtp_sink.host, "port": smtp_sink.port, "security": "none", "timeout_s": 30}
    imap = {"host": "127.0.0.1", "port": 9, "security": "none", "user": "help", "password": "x"}  # never polled
    return {"mailboxes": {"help": {"address": "help@district.example.org", "imap": imap, "smtp": smtp}}}


def directory(tmp_path: Path, rows: list[str], staff: list[str] | None = None) -> IdentitySettings:
    families = tmp_path / "families.csv"
    header = "household_id,contact_id,contact_name,relationship,email,phone,school,language\n"
    families.write_text(header + "".join(f"{row},lhs,en\n" for row in rows))
    sources: list[dict[str, Any]] = [{"path": str(families), "role": "parent", "columns": FAMILY_COLUMNS,
                                      "role_map": {"Guardian": "parent", "Student": "student"}}]  # fmt: skip
    if staff is not None:
        staff_csv = tmp_path / "staff.csv"
        staff_csv.write_text("employee_id,full_name,work_email,cell_phone,school,language\n"
                             + "".join(f"{row},lhs,en\n" for row in staff))  # fmt: skip
        columns = {"id": "employee_id", "display_name": "full_name", "email": ["work_email"], "phone": ["cell_phone"],
                   "school": "school", "language": "language"}  # fmt: skip
        sources.append({"path": str(staff_csv), "role": "staff", "columns": columns})
    conf = IdentitySettings.model_validate({"csv": sources})
    loaded = CsvDirectory(conf.csv, conf.phones).health()
    assert loaded["ok"] and loaded["rows"] == len(rows) + len(staff or []), loaded  # so "no address" means the rule
    return conf


def test_a_household_number_gives_a_guardians_address_never_the_students_school_account(tmp_path: Path) -> None:
    conf = IdentitySettings.model_validate({"csv": csv_settings()})
    assert directory_email(conf, f"+{TRAN_WA}") == "lan.tran@example.net"
    only_student = directory(tmp_path, ["H1,G1,Bao Vo,Guardian,,555-310-0001",
                                        "H1,S1,Kim Vo,Student,kim.vo@students.district.test,555-310-0001"])  # fmt: skip
    assert directory_email(only_student, "+15553100001") is None


def test_one_person_on_a_number_gives_their_own_address(tmp_path: Path) -> None:
    conf = directory(tmp_path, ["H2,G2,Ana Perez,Guardian,ana.perez@example.org,555-320-0002"])
    assert directory_email(conf, "+15553200002") == "ana.perez@example.org"
    assert directory_email(conf, "+15559999999") is None  # a number the directory does not know


def test_a_staff_number_or_a_staff_address_gives_no_address(tmp_path: Path) -> None:
    conf = IdentitySettings.model_validate({"csv": csv_settings()})
    assert directory_email(conf, f"+{STAFF_WA}") is None  # a staff member's own phone: never their work mail
    # A guardian whose address in the families' export is also a staff member's work address.
    both = directory(tmp_path, ["H3,G3,Luis Soto,Guardian,l.soto@district.test,555-330-0003"],
                     staff=["E9,Luis Soto,l.soto@district.test,555-990-0009"])  # fmt: skip
    assert directory_email(both, "+15553300003") is None


def test_unrelated_people_sharing_a_number_give_no_address(tmp_path: Path) -> None:
    shared = directory(tmp_path, ["H4,G4,Rosa Diaz,Guardian,rosa.diaz@example.net,555-340-0004",
                                  "H5,G5,Omar Ali,Guardian,omar.ali@example.net,555-340-0004"])  # fmt: skip
    assert directory_email(shared, "+15553400004") is None
    # The same address also listed for someone outside the household: not the household's own.
    borrowed = directory(tmp_path, ["H6,G6,Mai Le,Guardian,help@community-center.example,555-350-0005",
                                    "H7,G7,Tom Ng,Guardian,help@community-center.example,555-360-0006"])  # fmt: skip
    assert directory_email(borrowed, "+15553500005") is None


def sockets_to(port: int) -> int:
    """How many sockets this test process holds connected to `port` (from /proc: no client of our own)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    held = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # an fd closed while we look
            held += os.readlink(fd) in inodes
    return held


def test_ldap_gives_the_households_guardian_address_when_it_names_households_and_closes_its_connections(
    slapd: Slapd,
) -> None:
    # The seeded Okafor household shares a home phone; only Ngozi has a mail address. The seed has no household
    # attribute of its own, so the surname stands in for one here.
    phones = ["telephoneNumber", "mobile", "homePhone"]
    named = IdentitySettings.model_validate(
        {"ldap": ldap_settings(slapd, attributes={"id": "uid", "phone": phones, "household": "sn"})}
    )
    assert directory_email(named, "+15555010001") == "ngozi.okafor@example.net"
    assert directory_email(named, "+15552010101") is None  # Maria Rivera, a teacher: never her work address
    unnamed = IdentitySettings.model_validate({"ldap": ldap_settings(slapd)})
    assert directory_email(unnamed, "+15555010001") is None  # two people, no household said: no guess
    assert sockets_to(slapd.port) == 0


async def test_outside_the_window_the_update_goes_to_the_households_email_from_the_directory(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn, smtp_sink: SmtpSink
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, identity={"csv": csv_settings()},
                         channels={"email": email_channel(smtp_sink)})  # fmt: skip
    async with meta_gateway(config) as gw:
        old = wa_text("The lunch card does not work", sender=TRAN_WA, at=time.time() - 30 * HOURS)
        assert (await gw.post(whatsapp(old, sender=TRAN_WA)))[0] == 200
    work(config)
    assert meta_api.sends("whatsapp") == []  # no free-form reply 30 hours on, and no template configured
    [ack] = smtp_sink.wait_for(1, timeout=DEADLINE_S)
    assert ack.rcpt_tos == ("lan.tran@example.net",)
    shown = show(config, 1)
    assert "could not be reached on WhatsApp for the received reply: the 24-hour window had closed: sent by email" in (
        shown
    )
    assert "lan.tran@example.net" not in "\n".join(line for line in shown.splitlines() if "reached on" in line)


async def test_outside_the_window_a_staff_members_number_is_never_answered_at_their_work_address(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn, smtp_sink: SmtpSink
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, identity={"csv": csv_settings()},
                         channels={"email": email_channel(smtp_sink)})  # fmt: skip
    async with meta_gateway(config) as gw:
        old = wa_text("My own child's bus was late", sender=STAFF_WA, at=time.time() - 30 * HOURS)
        assert (await gw.post(whatsapp(old, sender=STAFF_WA, name="Grace Kim")))[0] == 200
    work(config)
    assert smtp_sink.messages == [] and meta_api.sends("whatsapp") == []
    assert "was not delivered on WhatsApp" in show(config, 1)
