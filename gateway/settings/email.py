"""The email channel: mailboxes (IMAP in, SMTP out) and the rules for mail."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from gateway.settings.base import Strict


class MailServer(Strict):
    host: str
    port: int = Field(ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    user: str = ""
    password: SecretStr = SecretStr("")
    # IMAP only: an OAuth2 access token (XOAUTH2) instead of a password (Microsoft 365, Google Workspace).
    oauth2_token: SecretStr = SecretStr("")
    timeout_s: float = Field(30.0, gt=0)
    # For a private CA or a test server's self-signed certificate.
    ca_file: str = ""


class Mailbox(Strict):
    address: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    display_name: str = "District Help Desk"
    imap: MailServer
    smtp: MailServer | None = None
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    language: str = "en"
    # A mailbox quiet this long during school hours is reported unhealthy (it may have stopped, not gone quiet).
    silence_alarm_minutes: int = Field(240, ge=1)
    school_hours: str = Field("07:00-17:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$")


class EmailSettings(Strict):
    mailboxes: dict[str, Mailbox] = Field(default_factory=dict)
    # Sends replies for requests that came in on other channels (a web form that left an email address).
    default_mailbox: str = ""
    loop_stamp: str = "intake-gateway"
    message_id_domain: str = ""  # empty: the default mailbox's domain
    # Only Authentication-Results from this host are believed: any other can be written by the sender.
    border_host: str = ""
    auto_replies_per_day: int = Field(3, ge=0)
    max_attachment_bytes: int = Field(15 * 1024 * 1024, gt=0)
    max_attachments: int = Field(20, ge=0)
    fetch_batch: int = Field(100, ge=1, le=1000)
    # A message larger than this (its RFC822.SIZE) is moved to quarantine without being downloaded.
    max_message_bytes: int = Field(25 * 1024 * 1024, gt=0)
    # A message's text past this many characters is cut, with a marker saying so (the message as it came is
    # attached to its ticket).
    max_text_chars: int = Field(100_000, ge=1000)
    # Processes that parse mail beside `intake mail`'s event loop; 0: one per usable core.
    parse_workers: int = Field(0, ge=0, le=64)
    poll_interval_s: float = Field(60.0, gt=0)
    idle_renew_s: float = Field(25 * 60.0, gt=0, lt=29 * 60)
    login_failure_alarm: int = Field(3, ge=1)
    reconnect_max_s: float = Field(300.0, gt=0)
    # A poller holds its mailbox's lock this long between renewals: an instance that died frees it after this.
    lock_ttl_s: float = Field(60.0, ge=1)

    @property
    def enabled(self) -> bool:
        return bool(self.mailboxes)

    def sender_mailbox(self) -> str | None:
        if self.default_mailbox:
            return self.default_mailbox
        return next((n for n, m in self.mailboxes.items() if m.smtp), None)
