"""Settings: `config/gateway.yaml` with `${VAR}` / `${VAR:-default}` substitution and environment overrides.

Validated once, at start. Every problem names the file, the key and what was expected.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from gateway.errors import ConfigError
from gateway.models import Role

DEFAULT_CONFIG = Path("config/gateway.yaml")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_base_url: str = ""
    max_body_bytes: int = Field(1_048_576, gt=0)
    # Group commit: how many concurrent messages one Redis round trip may carry.
    commit_batch_max: int = Field(256, ge=1, le=5000)
    # How many of those round trips may be in flight at once. More lets a message that just missed a
    # batch start its own commit, at the price of smaller batches: one fsync and one script per batch.
    commits_in_flight: int = Field(1, ge=1, le=16)


class RedisSettings(Strict):
    url: str = ""  # empty: the embedded redis-server under data_dir
    dedupe_ttl_days: int = Field(30, ge=1)
    socket_timeout_s: float = Field(2.0, gt=0)


class JobSettings(Strict):
    retry_intervals: list[int] = Field(default_factory=lambda: [10, 60, 300, 900])
    timeout_s: int = Field(120, gt=0)

    @field_validator("retry_intervals")
    @classmethod
    def _non_negative(cls, v: list[int]) -> list[int]:
        if not v or any(i < 0 for i in v):
            raise ValueError("expected a non-empty list of seconds >= 0, e.g. [10, 60, 300]")
        return v


class Choice(Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    label: dict[str, str]


class FormSource(Strict):
    token: SecretStr = SecretStr("")
    signing_secret: SecretStr = SecretStr("")

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
    poll_interval_s: float = Field(60.0, gt=0)
    idle_renew_s: float = Field(25 * 60.0, gt=0, lt=29 * 60)
    login_failure_alarm: int = Field(3, ge=1)
    reconnect_max_s: float = Field(300.0, gt=0)

    @property
    def enabled(self) -> bool:
        return bool(self.mailboxes)

    def sender_mailbox(self) -> str | None:
        if self.default_mailbox:
            return self.default_mailbox
        return next((n for n, m in self.mailboxes.items() if m.smtp), None)


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


class TwilioNumber(Strict):
    """One district number (or Messaging Service): where its texts go and which language it speaks first."""

    number: str = Field("", pattern=r"^(\+[1-9]\d{6,14})?$")
    messaging_service_sid: str = Field("", pattern=r"^(MG[0-9a-fA-F]{32})?$")
    school: str = "district"
    department: str = "general"
    language: str = "en"

    @field_validator("number", mode="before")
    @classmethod
    def _plus_kept(cls, v: object) -> object:
        # ${TWILIO_PHONE_NUMBER} substituted as a whole value is read by YAML as a number: the + is gone.
        return f"+{v}" if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _addressable(self) -> TwilioNumber:
        if not self.number and not self.messaging_service_sid:
            raise ValueError("expected a number (E.164, e.g. +15555550100) or a messaging_service_sid (MG...)")
        return self


class TwilioSettings(Strict):
    """SMS, MMS and voicemail. On when the account SID and auth token are both set (DESIGN.md section 10)."""

    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    api_base_url: str = ""  # empty: Twilio's own API; a regional edge or a local stand-in otherwise
    # A private CA for api_base_url and media hosts (a stand-in's test certificate); empty: the system's CAs.
    ca_file: str = ""
    # How long one API call may take. Past it a send counts as ambiguous: the retry first asks Twilio for the text.
    api_timeout_s: float = Field(15.0, gt=0)
    numbers: dict[str, TwilioNumber] = Field(default_factory=dict)
    opt_out_words: list[str] = Field(
        default_factory=lambda: [
            "STOP",
            "STOPALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "REVOKE",
            "OPTOUT",
            "PARAR",
            "ALTO",
            "DETENER",
            "CANCELAR",
        ]
    )
    opt_in_words: list[str] = Field(default_factory=lambda: ["START", "UNSTOP", "YES", "INICIAR", "SI", "SÍ"])
    help_words: list[str] = Field(default_factory=lambda: ["HELP", "INFO", "AYUDA"])
    new_words: list[str] = Field(default_factory=lambda: ["NEW", "NUEVO", "NUEVA", "MỚI", "新"])
    status_words: list[str] = Field(default_factory=lambda: ["STATUS", "ESTADO", "TRẠNG THÁI", "状态"])
    help_text: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "District Help Desk: text your question to this number. Reply STOP to stop texts, NEW for a new "
            "request, STATUS for updates.",
            "es": "Mesa de ayuda del distrito: escriba su pregunta a este número. STOP para no recibir mensajes, "
            "NUEVO para otra solicitud, ESTADO para novedades.",
        }
    )
    conversation_window_days: int = Field(7, ge=1, le=90)
    quiet_hours: str = Field("21:00-08:00", pattern=r"^(\d\d:\d\d-\d\d:\d\d)?$")
    urgent_priorities: list[str] = Field(default_factory=lambda: ["urgent"])
    sends_per_second_per_number: int = Field(1, ge=1)
    media_max_bytes: int = Field(5 * 1024 * 1024, gt=0)
    media_timeout_s: float = Field(20.0, gt=0)
    # Twilio answers a media URL with a redirect to its media CDN: every hop must be one of these.
    media_hosts: list[str] = Field(
        default_factory=lambda: ["api.twilio.com", "media.twiliocdn.com", "s3-external-1.amazonaws.com"]
    )
    voice_transcription: bool = False
    voice_max_length_s: int = Field(120, ge=5, le=600)

    @model_validator(mode="after")
    def _numbers_when_on(self) -> TwilioSettings:
        if self.enabled and not self.numbers:
            raise ValueError("numbers: expected at least one district number when the account SID and token are set")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token.get_secret_value())

    def number_for(self, to: str, messaging_service_sid: str = "") -> str | None:
        """The configured name of the district number a message was sent to."""
        for name, n in self.numbers.items():
            if messaging_service_sid and n.messaging_service_sid == messaging_service_sid:
                return name
        return next((name for name, n in self.numbers.items() if n.number and n.number == to), None)


class RoutingSettings(Strict):
    # Empty: the shipped config/rules.yaml. A relative path is read from gateway.yaml's folder.
    rules_file: str = ""
    # How often a running process looks for a changed rules file and for new closures.
    reload_interval_s: float = Field(2.0, gt=0)
    # How many delivered requests `intake rules test --replay N` can look back over.
    replay_keep: int = Field(1000, ge=0)

    def rules_path(self, config_file: str) -> Path:
        if not self.rules_file:
            return Path(__file__).resolve().parents[1] / "config" / "rules.yaml"
        path = Path(self.rules_file)
        return path if path.is_absolute() or not config_file else Path(config_file).parent / path


class IncidentSettings(Strict):
    # A surge: this many similar requests (one school; a shared keyword or the same category) within the window.
    surge_threshold: int = Field(10, ge=2)
    surge_window_minutes: int = Field(15, ge=1)
    fanout_chunk: int = Field(200, ge=1, le=5000)  # linked requesters one fan-out job handles
    match_timeout_ms: int = Field(50, ge=1, le=5000)  # most one incident pattern may take on one request


class ChannelSettings(Strict):
    webform: WebformSettings = Field(default_factory=lambda: WebformSettings())
    email: EmailSettings = Field(default_factory=lambda: EmailSettings())
    slack: SlackSettings = Field(default_factory=lambda: SlackSettings())
    twilio: TwilioSettings = Field(default_factory=lambda: TwilioSettings())


class BuiltinBackendSettings(Strict):
    path: str = ""  # empty: <data_dir>/tickets.sqlite3
    busy_timeout_ms: int = Field(5000, ge=0)


class BackendSettings(Strict):
    default: str = "builtin"
    builtin: BuiltinBackendSettings = Field(default_factory=lambda: BuiltinBackendSettings())


class LoggingSettings(Strict):
    level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")


class CsvColumns(Strict):
    """Which column of an export holds each field. Several columns may hold emails or phones."""

    id: str = "id"
    display_name: str = "name"
    email: list[str] = Field(default_factory=lambda: ["email"])
    phone: list[str] = Field(default_factory=lambda: ["phone"])
    role: str = ""  # empty: every row has the source's role
    school: str = "school"
    language: str = "language"
    household: str = ""  # rows with the same value are one family


class CsvSource(Strict):
    path: str
    role: Role = "parent"  # families exports: parent; staff exports: staff
    columns: CsvColumns = Field(default_factory=lambda: CsvColumns())
    # Values of the role column -> our roles, e.g. {"Guardian": "parent", "Teacher": "staff"}. Compared case-blind.
    role_map: dict[str, Role] = Field(default_factory=dict)


class LdapAttributes(Strict):
    id: str = ""  # empty: the entry's DN
    display_name: str = "displayName"
    email: list[str] = Field(default_factory=lambda: ["mail"])
    phone: list[str] = Field(default_factory=lambda: ["telephoneNumber", "mobile"])
    role: str = "employeeType"
    school: str = "physicalDeliveryOfficeName"
    language: str = "preferredLanguage"
    household: str = ""


class LdapSettings(Strict):
    url: str = Field("", pattern=r"^$|^ldaps?://")  # empty: no LDAP directory
    bind_dn: str = ""
    bind_password: SecretStr = SecretStr("")
    base_dn: str = ""
    # ANDed with every search: "(objectClass=person)", or for AD without disabled accounts
    # "(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))".
    search_filter: str = "(objectClass=person)"
    attributes: LdapAttributes = Field(default_factory=lambda: LdapAttributes())
    role_map: dict[str, Role] = Field(default_factory=dict)
    default_role: Role = "staff"
    # A lookup that takes longer is abandoned: intake goes on with what the channel told us.
    timeout_ms: int = Field(300, ge=10, le=10_000)
    # After a failure or a timeout, the directory is not asked again for this long.
    retry_after_s: float = Field(30.0, ge=0)
    ca_file: str = ""

    @model_validator(mode="after")
    def _base_dn_with_url(self) -> LdapSettings:
        if self.url and not self.base_dn:
            raise ValueError("identity.ldap.base_dn is required when identity.ldap.url is set")
        return self


class IdentitySettings(Strict):
    csv: list[CsvSource] = Field(default_factory=list)
    ldap: LdapSettings = Field(default_factory=lambda: LdapSettings())
    cache_ttl_s: int = Field(900, ge=0)
    negative_cache_ttl_s: int = Field(120, ge=0)
    cache_max_entries: int = Field(50_000, ge=1)
    # How often the CSV files' modification times are checked; a changed file is reloaded in the background.
    reload_check_s: float = Field(5.0, gt=0)
    default_country: str = Field("1", pattern=r"^[1-9]\d{0,2}$")

    @property
    def enabled(self) -> bool:
        return bool(self.csv or self.ldap.url)


class Settings(Strict):
    data_dir: str = "./data"
    secret_key: SecretStr = SecretStr("")
    default_language: str = "en"
    timezone: str = "UTC"
    server: ServerSettings = Field(default_factory=lambda: ServerSettings())
    redis: RedisSettings = Field(default_factory=lambda: RedisSettings())
    jobs: JobSettings = Field(default_factory=lambda: JobSettings())
    channels: ChannelSettings = Field(default_factory=lambda: ChannelSettings())
    backends: BackendSettings = Field(default_factory=lambda: BackendSettings())
    routing: RoutingSettings = Field(default_factory=lambda: RoutingSettings())
    incidents: IncidentSettings = Field(default_factory=lambda: IncidentSettings())
    logging: LoggingSettings = Field(default_factory=lambda: LoggingSettings())
    identity: IdentitySettings = Field(default_factory=lambda: IdentitySettings())
    source_file: str = Field("", exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as America/Chicago") from None
        return v

    @model_validator(mode="after")
    def _default_mailbox_exists(self) -> Settings:
        email = self.channels.email
        if email.default_mailbox and email.default_mailbox not in email.mailboxes:
            raise ValueError(
                f"channels.email.default_mailbox {email.default_mailbox!r} is not one of channels.email.mailboxes"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    def path_in_data(self, name: str) -> Path:
        return self.data_path / name

    def signing_key(self) -> bytes:
        """The key for status links. Generated once into the data dir when not configured."""
        configured = self.secret_key.get_secret_value()
        if configured:
            return configured.encode()
        path = self.path_in_data("secret_key")
        if not path.exists():
            self.data_path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


# Environment variables that override a key whatever the file says (DESIGN.md section 10).
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "HOST": ("server", "host"),
    "PORT": ("server", "port"),
    "PUBLIC_BASE_URL": ("server", "public_base_url"),
    "INTAKE_DATA_DIR": ("data_dir",),
    "REDIS_URL": ("redis", "url"),
}


def _substitute(value: Any, env: dict[str, str], missing: list[str], where: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, env, missing, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, missing, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(f"key {where}: environment variable {name} is not set (set it, or write ${{{name}:-default}})")
        return ""

    whole = _VAR.fullmatch(value)
    if whole:
        out = repl(whole)
        # A whole-value substitution may be a number or a boolean: let YAML type it.
        typed = yaml.safe_load(out) if out else out
        return typed if isinstance(typed, int | float | bool) else out
    return _VAR.sub(repl, value)


def _set(tree: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load and validate. Raises ConfigError listing every problem with file, key and expectation."""
    env = dict(os.environ) if env is None else env
    file = Path(path or env.get("INTAKE_CONFIG") or DEFAULT_CONFIG)
    if not file.exists():
        raise ConfigError([f"{file}: file not found (pass --config PATH or set INTAKE_CONFIG)"])
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError([f"{file}:{line} not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{file}: expected a mapping of settings at the top level"])
    missing: list[str] = []
    tree = _substitute(raw, env, missing, "")
    if missing:
        raise ConfigError([f"{file}: {m}" for m in missing])
    for var, key_path in ENV_OVERRIDES.items():
        if env.get(var):
            _set(tree, key_path, env[var])
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError([_describe(file, err) for err in exc.errors()]) from None
    return settings.model_copy(update={"source_file": str(file)})


def _describe(file: Path, err: Any) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{file}: key {key}: unknown setting (check the spelling; see config/gateway.yaml for the known keys)"
    got = err.get("input")
    secret = any(word in key for word in ("token", "secret", "password", "key"))
    shown = "" if secret or isinstance(got, dict | list) or got is None else f", got {str(got)[:40]!r}"
    return f"{file}: key {key}: {err['msg']}{shown}"
