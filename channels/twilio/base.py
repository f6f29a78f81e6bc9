"""What the Twilio channels (texts and voicemail) share: switched on by the account, answered by text.

A caller who left a voicemail is answered by text from the number they called, so both channels
send through `replies.send_sms_reply`, take consent keywords before any ticket, and fetch their
media (pictures, recordings) in a worker after the ticket exists.
"""

from __future__ import annotations

from collections.abc import Mapping

from channels.base import BaseChannel, Handled, WorkerServices
from channels.twilio.keywords import after_ticket, handle_keyword
from channels.twilio.media import fetch_media
from channels.twilio.replies import send_sms_reply, sms_survey_blocked
from channels.twilio.survey import open_rating_window
from channels.twilio.verify import TwilioVerifier
from gateway.models import Commitment, Reply
from gateway.settings import Settings
from gateway.store.blobs import BlobStore


class TwilioChannel(BaseChannel):
    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        super().__init__(settings, blobs)
        self.conf = settings.channels.twilio
        self.verifier = TwilioVerifier(self.conf)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.channels.twilio.enabled

    @classmethod
    def reply_targets(cls, conversation: Mapping[str, str]) -> list[tuple[str, str]]:
        return [("sms", conversation.get("sender", ""))]

    def deliver(self, reply: Reply, key: str, svc: WorkerServices) -> str:
        """Consent, quiet hours and the per-number rate at send time, then one text (channels/twilio/replies.py)."""
        return send_sms_reply(svc.redis, svc.settings, reply, key)

    def survey_blocked(self, conversation: Mapping[str, str], recipient: str, svc: WorkerServices) -> str:
        """Never to a number that said STOP (on any district number) or that cannot receive texts."""
        return sms_survey_blocked(svc.redis, recipient)

    def survey_sent(self, reply: Reply, expires_at: float, svc: WorkerServices) -> None:
        """The family's next texts to this number are read as their rating first (channels/twilio/survey.py)."""
        open_rating_window(reply, expires_at, svc)

    def prepare(self, commitment: Commitment, svc: WorkerServices) -> Commitment | Handled:
        outcome = handle_keyword(commitment, svc)  # STOP/START/HELP/STATUS: answered here, never a ticket
        return commitment if outcome is None else Handled(outcome)

    def after_ticket(self, commitment: Commitment, ref: str, svc: WorkerServices) -> None:
        after_ticket(commitment, ref, svc)

    def fetch_media(self, commitment: Commitment, ref: str, svc: WorkerServices) -> dict[str, int]:
        return fetch_media(commitment, ref, svc)
