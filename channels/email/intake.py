"""The email channel: raw RFC 5322 bytes in (from the IMAP poller or an mbox import), SMTP replies out.

Inbound, each message gets one decision: a request (new or on its conversation), our own mail
coming back (a loop: dropped), a delivery report (marks an address undeliverable), or unparseable
(quarantined for an operator). Outbound replies thread in the requester's client: In-Reply-To and
References, the [#ticket] tag kept in the subject, and a Reply-To plus-address carrying the token.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Literal

from gateway.ids import new_id
from gateway.intake.conversations import normalize_address
from gateway.macs import mac_for
from gateway.models import Attachment, Flags, InboundMessage, Requester, ThreadHints, utcnow
from gateway.settings import EmailSettings, Mailbox
from gateway.store.blobs import FORBIDDEN, BlobStore, sniff
from normalizers.email import ParsedEmail, UnparseableEmail, parse_email, screen_files, strip_subject_prefixes

# help_desk: the mail of a help desk the email backend forwards to, taken by gateway.mail.answers, never a request.
Kind = Literal["request", "loop", "bounce", "quarantine", "help_desk"]

# A mail naming more people than this in To and Cc is a mass mailing: nobody on it joins its thread by replying.
MAX_COPIED = 10


@dataclass(frozen=True)
class MailDecision:
    kind: Kind
    reason: str = ""
    message: InboundMessage | None = None
    # An out-of-office answer is content only on a conversation that already exists.
    only_if_threaded: bool = False
    bounced: tuple[str, ...] = ()


def message_id_domain(conf: EmailSettings) -> str:
    if conf.message_id_domain:
        return conf.message_id_domain.lower()
    name = conf.sender_mailbox() or next(iter(conf.mailboxes), "")
    return conf.mailboxes[name].address.rsplit("@", 1)[1].lower() if name else "intake.invalid"


def capped(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying so where it was cut: a job carries no novel-length body."""
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATED.format(more=len(text) - limit)


TRUNCATED = (
    "\n\n[... message truncated: {more:,} more characters not shown; the original message is attached whole as "
    "original-message.eml]"
)
ORIGINAL_FILENAME = "original-message.eml"  # the message as it came, on a ticket that cannot show all of it


def plus_address(address: str, token: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local}+{token.lower()}@{domain}"


class EmailIntake:
    """Turns one raw message into a decision. Stores its files in the blob store, and the message itself, as a file
    on its ticket, when the ticket cannot show all of it (`_original`)."""

    def __init__(self, conf: EmailSettings, blobs: BlobStore, key: bytes, default_language: str = "en") -> None:
        """`key` is the service's secret key (Settings.signing_key): our Message-IDs carry a mark made with it."""
        self.conf = conf
        self.blobs = blobs
        self.key = key
        self.default_language = default_language
        self.own_addresses = {m.address.lower() for m in conf.mailboxes.values()}

    def decide(self, raw: bytes, mailbox: str) -> MailDecision:
        """`mailbox` names the account: a configured mailbox, or an archive being imported."""
        box = self.conf.mailboxes.get(mailbox)
        language = box.language if box else self.default_language
        try:
            parsed = parse_email(raw)
        except UnparseableEmail as exc:
            return MailDecision("quarantine", reason=str(exc)[:200])
        if self._is_ours(parsed):
            return MailDecision("loop", reason="our own mail came back")
        if parsed.auto.bounce:
            return MailDecision("bounce", reason="delivery status notification", bounced=parsed.auto.bounced_recipients)
        if not parsed.from_addr:
            return MailDecision("quarantine", reason="no sender address")
        if parsed.from_addr in self.own_addresses:
            return MailDecision("loop", reason="sent from one of our own mailboxes")
        return MailDecision(
            "request", message=self._message(parsed, raw, mailbox, language), only_if_threaded=parsed.auto.auto_reply
        )

    def _is_ours(self, parsed: ParsedEmail) -> bool:
        """Only what we alone make: our X-Loop stamp, or a Message-ID marked with our key. Never the domain:
        a teacher's Thunderbird, Apple Mail or Exchange builds its Message-IDs from the district's domain too."""
        stamp = self.conf.loop_stamp.lower()
        if any(stamp == v.strip().lower() for v in parsed.auto.x_loop):
            return True
        return parsed.message_id is not None and is_our_message_id(self.key, parsed.message_id)

    def _message(self, parsed: ParsedEmail, raw: bytes, mailbox: str, language: str) -> InboundMessage:
        automatic = parsed.auto.auto_submitted or parsed.auto.auto_reply or parsed.auto.bulk
        automatic = automatic or parsed.auto.null_return_path
        unverified = bool(self.conf.border_host) and parsed.dmarc_failed(self.conf.border_host)
        text = capped(parsed.text, self.conf.max_text_chars)
        full_text = capped(parsed.full_text, self.conf.max_text_chars)
        files = self._files(parsed)
        cut = max(len(parsed.text), len(parsed.full_text)) > self.conf.max_text_chars
        original = self._original(parsed, raw, cut)
        return InboundMessage(
            id=new_id(),
            channel="email",
            account=mailbox,
            provider_id=parsed.message_id or "sha256:" + hashlib.sha256(raw).hexdigest(),
            received_at=utcnow(),
            sender=parsed.from_addr,
            requester=Requester(display_name=parsed.from_name, email=parsed.from_addr, locale=language),
            subject=parsed.subject,
            text=text,
            full_text=full_text,
            # The mailbox's language until the text's is found: by the pipeline when a rule routes on it,
            # else by the worker after the commit, as for every channel (gateway/intake/languages.py).
            language=language,
            language_source="channel",
            attachments=(*files, original) if original else files,
            thread_hints=ThreadHints(
                in_reply_to=parsed.in_reply_to,
                references=parsed.references,
                subject_token=parsed.subject_token,
                reply_token=parsed.plus_token,
                copied=() if automatic else self._copied(parsed),
            ),
            flags=Flags(auto_reply=automatic, unverified_sender=unverified),
            raw_ref=original.storage_key if original else None,
        )

    def _original(self, parsed: ParsedEmail, raw: bytes, cut: bool) -> Attachment | None:
        """The message as it came, a file on its ticket, when the ticket cannot show all of it: its text was cut,
        a part could not be read, or a charset was guessed. Staff open it there, every ticket backend gets it as
        a file, and a records request forgets it with the ticket. Any other message is whole on its ticket, and
        its original stays in the mailbox's processed folder, under the district's own mail retention: a copy of
        every message here, which no ticket named, could be neither read nor forgotten, and cost each message a
        file of its own."""
        if not (cut or parsed.defects or parsed.charset_fallbacks):
            return None
        return self.blobs.put(raw, ORIGINAL_FILENAME)

    def _copied(self, parsed: ParsedEmail) -> tuple[str, ...]:
        """The people besides the sender and us that a mail names in To and Cc, who may answer on its thread.

        Nobody for a mass mailing (more than MAX_COPIED names): its readers are each other's strangers."""
        named = (a for a in (*parsed.to, *parsed.cc) if a and a != parsed.from_addr)
        others = dict.fromkeys(a for a in named if normalize_address(a) not in self.own_addresses)
        return tuple(others) if len(others) <= MAX_COPIED else ()

    def _files(self, parsed: ParsedEmail) -> tuple[Attachment, ...]:
        """Every file comes back: kept in the blob store, or listed on the ticket with why it was not."""
        conf = self.conf
        screened = screen_files(
            parsed.files, sniff=sniff, forbidden_types=FORBIDDEN, max_file_bytes=conf.max_attachment_bytes,
            max_files=conf.max_attachments, max_total_bytes=conf.max_attachment_bytes * 3,
        )  # fmt: skip
        out = []
        for s in screened:
            if s.kept:
                out.append(self.blobs.put(s.part.data, s.part.filename))
            else:
                digest = hashlib.sha256(s.part.data).hexdigest()
                out.append(Attachment(filename=s.part.filename, content_type=s.content_type, size=s.part.size,
                                      sha256=digest, kept=False, reason=s.reason))  # fmt: skip
        return tuple(out)


@dataclass(frozen=True)
class Thread:
    """What a reply needs to thread in the requester's mail client."""

    ticket: str = ""
    subject: str = ""
    reply_token: str = ""
    references: tuple[str, ...] = field(default_factory=tuple)


_URL = re.compile(r"https?://[^\s<>\"]+")


def text_to_html(text: str) -> str:
    paragraphs = []
    for block in text.split("\n\n"):
        escaped = html.escape(block)
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return '<!doctype html><html><body style="font-family:sans-serif">' + "\n".join(paragraphs) + "</body></html>"


def compose(
    *,
    mailbox: Mailbox,
    conf: EmailSettings,
    to: str,
    subject: str,
    text: str,
    thread: Thread,
    message_id: str,
    automatic: bool,
) -> EmailMessage:
    """A reply that threads: From the mailbox, Reply-To with the token, In-Reply-To/References, [#ticket] kept."""
    msg = EmailMessage()
    msg["From"] = formataddr((mailbox.display_name, mailbox.address))
    msg["To"] = to
    if thread.reply_token:
        msg["Reply-To"] = formataddr((mailbox.display_name, plus_address(mailbox.address, thread.reply_token)))
    if thread.subject:
        base = strip_subject_prefixes(thread.subject)
        tag = f" [#{thread.ticket}]" if thread.ticket else ""
        msg["Subject"] = f"Re: {base}{tag}"
    else:
        msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id
    if thread.references:
        msg["In-Reply-To"] = f"<{thread.references[-1]}>"
        msg["References"] = " ".join(f"<{r}>" for r in thread.references[-10:])
    # RFC 3834: mark what a machine sent, so other machines do not answer it; X-Loop names us.
    msg["Auto-Submitted"] = "auto-replied" if automatic else "auto-generated"
    msg["X-Loop"] = conf.loop_stamp
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text)
    msg.add_alternative(text_to_html(text), subtype="html")
    return msg


MARK_HEX = 16  # 64 bits of HMAC: nobody without the key writes a Message-ID we take for our own


def message_id_mark(key: bytes, digest: str) -> str:
    """The keyed mark a Message-ID of ours carries after its digest."""
    return mac_for(key).digest(b"email-message-id:" + digest.encode()).hex()[:MARK_HEX]


def reply_message_id(conf: EmailSettings, key: bytes, delivery_key: str) -> str:
    """Deterministic per delivery: a retried send repeats the same Message-ID, which clients collapse.

    `<digest.mark@domain>`: the mark, an HMAC of the digest with the service's key, is how we know our own
    mail when it comes back (the domain is anyone's at the district)."""
    digest = hashlib.sha256(delivery_key.encode()).hexdigest()[:32]
    return f"<{digest}.{message_id_mark(key, digest)}@{message_id_domain(conf)}>"


def is_our_message_id(key: bytes, message_id: str) -> bool:
    """A Message-ID (with or without <>) that `reply_message_id` made with this key."""
    local = message_id.strip("<> ").rsplit("@", 1)[0]
    digest, _, mark = local.rpartition(".")
    if not digest or len(mark) != MARK_HEX:
        return False
    return hmac.compare_digest(mark.lower(), message_id_mark(key, digest))
