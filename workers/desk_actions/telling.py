"""The events worker's half of a desk's incident link (incidents.py): tell the family, once, that their request is
part of a known problem, out their own channel through the outbox (quiet hours, opt-outs, Meta's window and the
rest apply as to every reply), in their language, with the incident's title, its latest public word and their
status link. The words are the incident's as the link read them, in the same step as the link: an update recorded
after it reaches the family by its own fan-out, so neither says what the other already did.

Run under the conversation's lock, the link's own lock: a request unlinked before its job ran is told nothing, and
one told already (by this, or by its acknowledgement on arrival) is not told again. The reply's job id is named by
the incident and the conversation, so even a job retried after a crash between queueing and recording queues it
once, and `send_reply` records it sent once.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway import keys
from workers import context
from workers.desk_actions.assigning import conversation_fields
from workers.incident_link import told_marker
from workers.locks import conversation_lock
from workers.replies import queue_replies

log = logging.getLogger("intake.incidents")


def tell_incident_link(payload: dict[str, Any]) -> str:
    """Tell a conversation linked at the desk that it is part of the incident, unless unlinked or told before."""
    conv, incident_id = str(payload["conversation"]), str(payload["incident"])
    told: dict[str, Any] = dict(payload["context"])
    r = context.connection()
    with conversation_lock(r, conv):
        linked = conversation_fields(r, conv).get("incident") == incident_id
        if not linked or not r.sismember(keys.incident_child_set(incident_id), conv):
            return "unlinked"
        marker = told_marker(incident_id)
        if r.sismember(keys.deliveries(conv), marker):
            return "told before"
        queued = queue_replies(conv, "incident_linked", f"incident-linked-{incident_id}-{conv}", told)
        r.sadd(keys.deliveries(conv), marker)
    log.info("request told it is part of an incident", extra={"incident": incident_id, "conversation": conv,
                                                              "queued": queued})  # fmt: skip
    return f"told on {queued} channel(s)"
