"""Web form payload -> canonical fields. Pure: no I/O, no clock, no configuration loading."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from normalizers.phone import US, PhoneRules
from normalizers.text import clean_text, primary_language

EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
MAX_MESSAGE = 20_000


class InvalidSubmission(ValueError):
    """Names every field that is wrong, and the valid values where there is a closed list."""

    def __init__(self, fields: dict[str, str], valid: dict[str, list[str]] | None = None) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields
        self.valid = valid or {}


class SubmittedFile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field("application/octet-stream", max_length=200)
    data_base64: str


class WebformPayload(BaseModel):
    # Extra keys are ignored: a district site or a forms script may send fields we do not use.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    name: str = Field("", max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    category: str = Field(min_length=1, max_length=64)
    school: str | None = Field(None, max_length=64)
    subject: str = Field("", max_length=300)
    message: str = Field(min_length=1, max_length=MAX_MESSAGE)
    language: str | None = Field(None, max_length=35)
    attachments: list[SubmittedFile] = Field(default_factory=list, max_length=10)


@dataclass(frozen=True)
class FileData:
    filename: str
    declared_type: str
    data: bytes


@dataclass(frozen=True)
class FormFields:
    name: str
    email: str | None
    phone: str | None
    category: str
    school: str | None
    subject: str
    message: str
    language: str
    files: list[FileData] = field(default_factory=list)
    language_chosen: bool = False  # the submitter picked it (not our default)


def parse_submission(
    payload: Any,
    *,
    categories: list[str],
    schools: list[str],
    languages: list[str],
    default_language: str,
    max_file_bytes: int,
    phones: PhoneRules = US,
) -> FormFields:
    """Validate and normalize one submission. Raises InvalidSubmission naming each bad field."""
    if not isinstance(payload, dict):
        raise InvalidSubmission({"body": "expected a JSON object"})
    problems: dict[str, str] = {}
    valid: dict[str, list[str]] = {}
    # Closed lists are checked on the raw values too, so one answer names every problem at once.
    for name, allowed in (("category", categories), ("school", schools)):
        value = payload.get(name)
        if isinstance(value, str) and value.strip() and value.strip() not in allowed:
            problems[name] = f"unknown {name}"
            valid[name] = allowed
    try:
        p = WebformPayload.model_validate(payload)
    except ValidationError as exc:
        named = {".".join(str(x) for x in e["loc"]) or "body": e["msg"] for e in exc.errors()}
        raise InvalidSubmission({**named, **problems}, valid) from None

    email = p.email or None
    if email and not EMAIL.match(email):
        problems["email"] = "not an email address"
    phone = phones.e164(p.phone) if p.phone else None
    if p.phone and not phone:
        problems["phone"] = "not a phone number"
    if not email and not p.phone:
        problems["email"] = "give an email address or a phone number so we can answer"
    message = clean_text(p.message)
    if not message:
        problems["message"] = "must not be empty"
    files = []
    for i, f in enumerate(p.attachments):
        try:
            data = base64.b64decode(f.data_base64, validate=True)
        except (binascii.Error, ValueError):
            problems[f"attachments.{i}.data_base64"] = "not valid base64"
            continue
        if len(data) > max_file_bytes:
            problems[f"attachments.{i}"] = f"larger than {max_file_bytes} bytes"
            continue
        files.append(FileData(clean_text(f.filename)[:200] or "file", f.content_type, data))
    if problems:
        raise InvalidSubmission(problems, valid)

    lang = primary_language(p.language)
    return FormFields(
        name=clean_text(p.name),
        email=email.lower() if email else None,
        phone=phone,
        category=p.category,
        school=p.school or None,
        subject=clean_text(p.subject),
        message=message,
        language=lang if lang in languages else default_language,
        files=files,
        language_chosen=lang in languages,
    )
