"""The `channels.x` section: the X app's consumer secret and the district account's user tokens.

On from the environment alone: X_CONSUMER_SECRET (it verifies the CRC check and every webhook) plus
either X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET (OAuth 1.0a, signed with the app's X_CONSUMER_KEY) or
an OAuth 2.0 user token with `dm.write` (X_USER_TOKEN), to send direct messages as the account.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.settings import Settings
from gateway.settings.base import Strict

API_URL = "https://api.x.com"


class XSettings(Strict):
    consumer_key: str = ""
    consumer_secret: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    access_token_secret: SecretStr = SecretStr("")
    user_token: SecretStr = SecretStr("")
    api_url: str = API_URL
    api_timeout_s: float = Field(15.0, gt=0)
    school: str = "district"
    department: str = "general"
    language: str = "en"

    @field_validator("api_url", mode="before")
    @classmethod
    def _default_url(cls, v: object) -> object:
        return v or API_URL  # X_API_URL set but empty

    @model_validator(mode="after")
    def _signable(self) -> XSettings:
        pair = (self.access_token.get_secret_value(), self.access_token_secret.get_secret_value())
        if any(pair) and not all(pair):
            raise ValueError("access_token and access_token_secret: expected both (OAuth 1.0a), or neither")
        if all(pair) and not self.consumer_key and not self.user_token.get_secret_value():
            raise ValueError("consumer_key: expected the app's API key (X_CONSUMER_KEY) to sign with the access token")
        # Half the settings would leave the channel off without a word: the messages would go unheard.
        can_send = all(pair) or bool(self.user_token.get_secret_value())
        if self.consumer_secret.get_secret_value() and not can_send:
            raise ValueError(
                "access_token and access_token_secret: expected them (X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET) "
                "or an OAuth 2.0 user token (X_USER_TOKEN) beside the consumer secret, to answer as the account"
            )
        if can_send and not self.consumer_secret.get_secret_value():
            raise ValueError(
                "consumer_secret: expected the app's consumer secret (X_CONSUMER_SECRET) to verify X's webhooks, "
                "or no tokens to leave X off"
            )
        return self

    @property
    def oauth1(self) -> bool:
        return bool(self.access_token.get_secret_value() and self.access_token_secret.get_secret_value())

    @property
    def enabled(self) -> bool:
        return bool(self.consumer_secret.get_secret_value() and (self.oauth1 or self.user_token.get_secret_value()))


def x_settings(settings: Settings) -> XSettings:
    return XSettings.model_validate(settings.channels.section("x") or {})
