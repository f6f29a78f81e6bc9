"""The base of every settings model (an unknown key is an error: a misspelling never passes) and how errors read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def describe(file: Path | str, err: Any, prefix: tuple[str, ...] = ()) -> str:
    """One validation error as an operator reads it: the file, the dotted key, what was expected."""
    key = ".".join(str(p) for p in (*prefix, *err["loc"])) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{file}: key {key}: unknown setting (check the spelling; see config/gateway.yaml for the known keys)"
    got = err.get("input")
    secret = any(word in key for word in ("token", "secret", "password", "key", "database_url"))
    # A URL may carry a password before its @ (redis://:password@host), whatever the key is called.
    secret = secret or (isinstance(got, str) and "@" in got.partition("://")[2].partition("/")[0])
    shown = "" if secret or isinstance(got, dict | list) or got is None else f", got {str(got)[:40]!r}"
    return f"{file}: key {key}: {err['msg']}{shown}"
