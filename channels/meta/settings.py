"""The `channels.meta` section: the app, its pages (Messenger and Instagram) and WhatsApp numbers, and templates.

From the environment alone (config/gateway.yaml): META_APP_SECRET plus META_VERIFY_TOKEN switch the
webhook on; META_PAGE_ID plus META_PAGE_TOKEN add one page, WHATSAPP_PHONE_NUMBER_ID plus WHATSAPP_TOKEN
one number. An entry with neither its id nor its token is off (an unset variable); one with only one
of the two is an error that names it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.settings import Settings
from gateway.settings.base import Strict

# Where the Graph API answers; a version Meta still serves (each is supported for about two years).
GRAPH_URL = "https://graph.facebook.com/v21.0"
# Meta's CDN and media hosts: Messenger and Instagram attachments, and WhatsApp's media downloads.
MEDIA_HOSTS = ["lookaside.fbsbx.com", ".fbsbx.com", ".fbcdn.net", ".cdninstagram.com"]
TemplateValue = Literal["ticket", "reference", "status", "text"]
Fallback = Literal["sms", "email"]
FALLBACKS: tuple[Fallback, ...] = ("sms", "email")


def _as_text(v: object) -> object:
    # ${META_PAGE_ID} substituted as a whole value is read by YAML as a number.
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class MetaEntry(Strict):
    token: SecretStr = SecretStr("")
    school: str = "district"
    department: str = "general"
    language: str = "en"

    def _check(self, ident: str, id_name: str) -> None:
        if bool(ident) != bool(self.token.get_secret_value()):
            missing = "token" if ident else id_name
            raise ValueError(f"{missing}: expected both {id_name} and token (or neither, to leave this entry off)")

    @property
    def on(self) -> bool:
        return bool(self.token.get_secret_value())


class MetaPage(MetaEntry):
    """A Facebook page: its Messenger conversations, and those of the Instagram account linked to it."""

    page_id: str = Field("", pattern=r"^\d*$")
    # The Instagram professional account linked to the page (the id its webhooks name); empty: the page's
    # Instagram messages are filed under the first page.
    instagram_id: str = Field("", pattern=r"^\d*$")

    @field_validator("page_id", "instagram_id", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return _as_text(v)

    @model_validator(mode="after")
    def _both(self) -> MetaPage:
        self._check(self.page_id, "page_id")
        return self


class WhatsAppNumber(MetaEntry):
    """A WhatsApp Business number on the Cloud API."""

    phone_number_id: str = Field("", pattern=r"^\d*$")

    @field_validator("phone_number_id", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return _as_text(v)

    @model_validator(mode="after")
    def _both(self) -> WhatsAppNumber:
        self._check(self.phone_number_id, "phone_number_id")
        return self


class WhatsAppTemplate(Strict):
    """An approved message template: its name, Meta's code for its language, and what fills its body's {{1}}..."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    parameters: list[TemplateValue] = Field(default_factory=list)


class MetaSettings(Strict):
    app_secret: SecretStr = SecretStr("")
    verify_token: SecretStr = SecretStr("")
    graph_url: str = GRAPH_URL
    # A private CA for graph_url and media (a stand-in's test certificate); empty: the system's CAs.
    ca_file: str = ""
    api_timeout_s: float = Field(15.0, gt=0)
    pages: dict[str, MetaPage] = Field(default_factory=dict)
    numbers: dict[str, WhatsAppNumber] = Field(default_factory=dict)
    # Outside WhatsApp's 24-hour window: event -> language -> approved template.
    templates: dict[str, dict[str, WhatsAppTemplate]] = Field(default_factory=dict)
    # Outside the window, the other channels tried in order (the family's phone by text, their email).
    fallback: list[Fallback] = Field(default_factory=lambda: list(FALLBACKS))
    media_max_bytes: int = Field(16 * 1024 * 1024, gt=0)
    media_timeout_s: float = Field(30.0, gt=0)
    media_hosts: list[str] = Field(default_factory=lambda: list(MEDIA_HOSTS))
    profile_cache_s: int = Field(86400, ge=0)

    @field_validator("graph_url", mode="before")
    @classmethod
    def _default_url(cls, v: object) -> object:
        return v or GRAPH_URL  # META_GRAPH_URL set but empty

    @model_validator(mode="after")
    def _switched_on_whole(self) -> MetaSettings:
        # Half a pair would leave the channels off without a word: the families' messages would go unheard.
        if bool(self.app_secret.get_secret_value()) != bool(self.verify_token.get_secret_value()):
            raise ValueError(
                "app_secret and verify_token: expected both (META_APP_SECRET and META_VERIFY_TOKEN), "
                "or neither to leave Messenger, Instagram and WhatsApp off"
            )
        if not self.enabled and (self.active_pages() or self.active_numbers()):
            raise ValueError(
                "app_secret and verify_token: a page or number is configured but the webhook that receives its "
                "messages is off: set META_APP_SECRET and META_VERIFY_TOKEN (or remove the page's or number's token)"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.app_secret.get_secret_value() and self.verify_token.get_secret_value())

    def active_pages(self) -> dict[str, MetaPage]:
        return {name: p for name, p in self.pages.items() if p.on}

    def active_numbers(self) -> dict[str, WhatsAppNumber]:
        return {name: n for name, n in self.numbers.items() if n.on}

    def page_named(self, account: str) -> MetaPage | None:
        return self.active_pages().get(account)

    def number_named(self, account: str) -> WhatsAppNumber | None:
        return self.active_numbers().get(account)

    def template(self, event: str, language: str) -> WhatsAppTemplate | None:
        return self.templates.get(event, {}).get(language)


def meta_settings(settings: Settings) -> MetaSettings:
    """The `channels.meta` section, validated (a process checks it at start, so here it holds)."""
    return MetaSettings.model_validate(settings.channels.section("meta") or {})
