"""SMS, MMS and voicemail through Twilio: the district numbers, keywords, consent and media."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.settings.base import Strict


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
