"""A Meta message (normalizers.meta) -> the canonical InboundMessage, filed under the page or number it reached.

Who is asking: Messenger and Instagram senders are page-scoped ids (`messenger:<PSID>`,
`instagram:<IGSID>`: never mistaken for a phone number or an address); a WhatsApp sender's `wa_id` is
a phone number, so it becomes the E.164 sender and the requester's phone, and the directory finds the
same household as that number's texts. Threading is by sender and page or number, like texts, in the
channel's own continuity scope: a family's WhatsApp conversation never continues their SMS one (each
is answered where it was asked; STATUS lists both).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from channels.meta.settings import MetaEntry, MetaSettings
from channels.social.keywords import Classified, classify
from gateway.ids import new_id
from gateway.models import Attachment, Flags, InboundMessage, Requester, ThreadHints
from normalizers.meta import Media, MetaMessage, Product
from normalizers.twilio_sms import Keywords

log = logging.getLogger("intake.channels.meta")

SUBJECT_CHARS = 60
PRODUCT_NAMES = {"messenger": "Messenger", "instagram": "Instagram", "whatsapp": "WhatsApp"}
KIND_NAMES = {"image": "photo", "audio": "audio message", "video": "video", "document": "document"}
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "audio/ogg": ".ogg",
              "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac", "video/mp4": ".mp4",
              "video/3gpp": ".3gp", "application/pdf": ".pdf"}  # fmt: skip
FUTURE_SLACK_S = 300  # a sender's clock a little ahead of ours is believed; further ahead, our own time is


def sender_of(product: Product, sender_id: str) -> str:
    return f"+{sender_id}" if product == "whatsapp" else f"{product}:{sender_id}"


def recipient_id(sender: str) -> str:
    """The id Meta's send API takes for a sender: the PSID or IGSID, or the wa_id (the number without its +)."""
    return sender.partition(":")[2] if ":" in sender else sender.lstrip("+")


def sent_at(timestamp: float) -> datetime:
    """When the person sent it (Meta retries a webhook for hours): the window and continuity count from then."""
    now = time.time()
    return datetime.fromtimestamp(timestamp if 0 < timestamp <= now + FUTURE_SLACK_S else now, UTC)


class Accounts:
    """Which configured page or number a message reached: by the id Meta names, else the product's first entry."""

    def __init__(self, conf: MetaSettings) -> None:
        self.by_id: dict[tuple[Product, str], str] = {}
        self.first: dict[Product, str] = {}
        self.entries: dict[tuple[Product, str], MetaEntry] = {}
        pages: tuple[Product, Product] = ("messenger", "instagram")
        for name, page in conf.active_pages().items():
            for product in pages:
                ident = page.page_id if product == "messenger" else page.instagram_id
                if ident:
                    self.by_id[(product, ident)] = name
                self.first.setdefault(product, name)
                self.entries[(product, name)] = page
        for name, number in conf.active_numbers().items():
            self.by_id[("whatsapp", number.phone_number_id)] = name
            self.first.setdefault("whatsapp", name)
            self.entries[("whatsapp", name)] = number

    def account(self, product: Product, account_id: str) -> tuple[str, MetaEntry | None]:
        name = self.by_id.get((product, account_id))
        if name is None:
            name = self.first.get(product)
            # The id is the district's page or number, not a person: safe to log.
            log.warning("meta message to a page or number that is not configured",
                        extra={"product": product, "filed_under": name or account_id})  # fmt: skip
        if name is None:
            return account_id, None  # kept all the same: its replies wait until the entry is configured
        return name, self.entries[(product, name)]


def attachment(m: MetaMessage, i: int, media: Media, graph_url: str) -> Attachment:
    ext = EXTENSIONS.get(media.mime_type, "")
    name = media.filename or f"{PRODUCT_NAMES[m.product].lower()}-{media.kind}-{i + 1}{ext}"
    # WhatsApp gives a media id: its Graph address is resolved by the worker to a URL valid for five minutes.
    source = media.url or f"{graph_url.rstrip('/')}/{media.media_id}"
    return Attachment(filename=name, content_type=media.mime_type or "application/octet-stream", size=0, sha256="",
                      kept=False, reason="being fetched", source_url=source)  # fmt: skip


def to_message(
    m: MetaMessage, account: str, entry: MetaEntry | None, words: Keywords, graph_url: str
) -> InboundMessage:
    said: Classified = classify(words, m.text) if not m.media else Classified(m.text, False, False, None)
    product = PRODUCT_NAMES[m.product]
    attachments = tuple(attachment(m, i, media, graph_url) for i, media in enumerate(m.media))
    first = m.media[0].kind if m.media else ""
    what = "voice message" if m.media and m.media[0].voice else KIND_NAMES.get(first, "message")
    subject = said.text.split("\n", 1)[0][:SUBJECT_CHARS] or f"{product} {what}"
    language = said.language or (entry.language if entry else "en")
    school = entry.school if entry else None
    sender = sender_of(m.product, m.sender_id)
    return InboundMessage(
        id=new_id(),
        channel=m.product,
        account=account,
        provider_id=m.message_id,
        received_at=sent_at(m.timestamp),
        sender=sender,
        requester=Requester(
            display_name=m.profile_name,
            phone=sender if m.product == "whatsapp" else None,
            handles={m.product: m.sender_id},
            locale=language,
            campus=school,
        ),
        subject=subject,
        text=said.text or subject,
        full_text=m.text,
        language=language,
        language_source="chosen" if said.language else "channel",
        category=entry.department if entry else None,
        campus=school,
        attachments=attachments,
        thread_hints=ThreadHints(
            force_new=said.force_new, sender_continuity=True, continuity_scope=f"{m.product}:{account}"
        ),
        flags=Flags(status_request=said.status_request),
    )
