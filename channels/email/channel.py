"""The email channel as a plug-in: mail arrives by IMAP (the `intake mail` poller), replies leave by SMTP.

It answers no webhook: `gateway/mail/` polls the mailboxes and hands each raw message to
`channels.email.intake`. What the registry needs of it is whether it is on and how it sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from channels.base import BaseChannel, HookRoute, WorkerServices
from channels.email.replies import email_held_back, email_survey_blocked, send_email_reply
from gateway.models import Reply
from gateway.settings import Settings


class EmailChannel(BaseChannel):
    name = "email"
    max_text_len = 100_000
    rate_per_sec = 0.0  # the mail server queues

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.channels.email.enabled

    def routes(self) -> Sequence[HookRoute]:
        return []

    def deliver(self, reply: Reply, key: str, svc: WorkerServices) -> str:
        """A threaded reply from the conversation's mailbox, within the loop rules (channels/email/replies.py)."""
        return send_email_reply(svc.redis, svc.settings, reply, key)

    def held_back(self, reply: Reply, svc: WorkerServices) -> str:
        return email_held_back(svc.redis, svc.settings, reply)

    def survey_blocked(self, conversation: Mapping[str, str], recipient: str, svc: WorkerServices) -> str:
        """Never to a no-reply address, one of our own mailboxes, or an address that bounced."""
        return email_survey_blocked(svc.redis, svc.settings, recipient)
