"""The deliver job: a new conversation makes a ticket; a later message on it becomes a comment."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from gateway import keys
from gateway.ids import fingerprint, new_id
from gateway.models import Commitment, InboundMessage, Requester, Route
from gateway.settings import Settings
from gateway.store.commit import Committer
from gateway.store.redis_conn import async_client
from tests.conftest import Gateway, form
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from workers.backends.builtin import BuiltinBackend


def message(text: str) -> InboundMessage:
    return InboundMessage(
        id=new_id(), channel="webform", account="district-web/demo", sender="pat@example.org",
        requester=Requester(display_name="Pat", email="pat@example.org"), text=text, subject="Laptop",
    )  # fmt: skip


async def test_a_second_message_in_a_conversation_becomes_a_comment_on_its_ticket(
    settings: Settings, redis_server: RedisServer, config_path: Path
) -> None:
    client = async_client(settings)
    committer = Committer(client, settings)
    first = message("The laptop will not turn on.")
    conv = first.id
    await committer.commit([Commitment(message=first, fingerprint=fingerprint("webform", "a", first.id, b""),
                                       conversation=conv, route=Route())])  # fmt: skip
    assert intake(config_path, "worker", "--burst").returncode == 0
    follow_up = message("It turns on when plugged in.")
    await committer.commit([Commitment(message=follow_up, fingerprint=fingerprint("webform", "a", follow_up.id, b""),
                                       conversation=conv, route=Route())])  # fmt: skip
    await client.aclose()
    assert intake(config_path, "worker", "--burst").returncode == 0

    store = BuiltinBackend.from_settings(settings)
    assert store.count() == 1
    details = store.details("1")
    assert [c.body for c in details.comments] == ["It turns on when plugged in."]
    events = [json.loads(e)["event"] for e in redis_server.client().lrange(keys.timeline(conv), 0, -1)]
    assert events.count("ticket_created") == 1
    assert "comment_added" in events
    # One acknowledgement for the conversation, not one per message.
    assert events.count("reply") == 1


async def test_a_file_we_do_not_keep_is_listed_on_the_ticket_as_not_kept(
    gateway: Gateway, config_path: Path, settings: Settings
) -> None:
    program = base64.b64encode(b"MZ\x90\x00" + b"\x00" * 60).decode()
    photo = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 60).decode()
    attachments = [{"filename": "homework.exe", "data_base64": program}, {"filename": "bus.jpg", "data_base64": photo}]
    assert (await gateway.post_form(form(attachments=attachments))).status == 202
    assert intake(config_path, "worker", "--burst").returncode == 0
    files = BuiltinBackend.from_settings(settings).details("1").attachments
    assert [(f.filename, f.kept, f.reason) for f in files] == [
        ("homework.exe", False, "program files are not accepted"),
        ("bus.jpg", True, None),
    ]
    shown = intake(config_path, "tickets", "show", "1").stdout
    assert "homework.exe (application/x-msdownload, 64 bytes)  NOT KEPT: program files are not accepted" in shown
    kept = settings.path_in_data("blobs")
    assert len([p for p in kept.rglob("*") if p.is_file()]) == 1


async def test_a_new_ticket_and_a_comment_on_it_each_tell_the_dashboard(
    settings: Settings, redis_server: RedisServer, config_path: Path
) -> None:
    """The notice goes in the transaction that records the ticket (or the comment): no round trip of its own."""
    client = async_client(settings)
    committer = Committer(client, settings)
    first, follow_up = message("The laptop will not turn on."), message("It turns on when plugged in.")
    admin = redis_server.client()
    notices = admin.pubsub(ignore_subscribe_messages=True)
    notices.subscribe(keys.DASH_CHANGES)
    heard: list[bytes] = []
    for m in (first, follow_up):
        await committer.commit([Commitment(message=m, fingerprint=fingerprint("webform", "a", m.id, b""),
                                           conversation=first.id, route=Route())])  # fmt: skip
        assert intake(config_path, "worker", "--burst").returncode == 0
        while (notice := notices.get_message(timeout=5)) is not None:
            heard.append(notice["data"])
    await client.aclose()
    notices.close()
    admin.close()
    assert heard.count(b"tickets") == 2, heard
