"""The web form channel: form sources, and the categories, schools and languages families pick from."""

from __future__ import annotations

from pydantic import Field, SecretStr

from gateway.settings.base import Strict


class Choice(Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    label: dict[str, str]


class FormSource(Strict):
    token: SecretStr = SecretStr("")
    signing_secret: SecretStr = SecretStr("")
    # Also take the old `sha256=<HMAC of the body>` signature, which carries no timestamp and so can be replayed
    # (each replay is a duplicate of the first, never a new request). Only for a sender not yet moved to t=,v1=.
    legacy_signature: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.token.get_secret_value() or self.signing_secret.get_secret_value())


class WebformSettings(Strict):
    enabled: bool = True
    account: str = "district-web"
    sources: dict[str, FormSource] = Field(default_factory=dict)
    categories: list[Choice] = Field(default_factory=list)
    schools: list[Choice] = Field(default_factory=list)
    languages: dict[str, str] = Field(
        default_factory=lambda: {"en": "English", "es": "Español", "vi": "Tiếng Việt", "zh": "中文（简体）"}  # noqa: RUF001
    )
    max_attachment_bytes: int = Field(10 * 1024 * 1024, gt=0)
