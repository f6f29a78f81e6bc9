"""The Slack channel: the workspace from the environment, and more by team id."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from gateway.settings.base import Strict


class SlackWorkspace(Strict):
    signing_secret: SecretStr = SecretStr("")
    bot_token: SecretStr = SecretStr("")
    # Our bot's user id (U...), so its own posts are never taken as requests even without a bot_id.
    bot_user_id: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.signing_secret.get_secret_value() and self.bot_token.get_secret_value())


class SlackSettings(Strict):
    # The workspace from the environment (SLACK_SIGNING_SECRET + SLACK_BOT_TOKEN); team_id pins it to one team.
    signing_secret: SecretStr = SecretStr("")
    bot_token: SecretStr = SecretStr("")
    team_id: str = ""
    bot_user_id: str = ""
    # More workspaces (separate districts, Enterprise Grid), keyed by team id, each with its own token and secret.
    workspaces: dict[str, SlackWorkspace] = Field(default_factory=dict)
    api_url: str = "https://slack.com/api/"
    command: str = Field("/helpdesk", pattern=r"^/[a-z0-9_-]+$")
    language: str = "en"
    # chat.postMessage allows about one message per second per channel.
    channel_interval_s: float = Field(1.0, ge=0)
    identity_cache_s: int = Field(86400, ge=60)
    max_retry_after_s: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _pairs(self) -> SlackSettings:
        if bool(self.signing_secret.get_secret_value()) != bool(self.bot_token.get_secret_value()):
            raise ValueError(
                "channels.slack needs both signing_secret and bot_token (SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN), "
                "or neither"
            )
        for team, ws in self.workspaces.items():
            if not ws.configured:
                raise ValueError(f"channels.slack.workspaces.{team} needs both signing_secret and bot_token")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.bot_token.get_secret_value()) or bool(self.workspaces)
