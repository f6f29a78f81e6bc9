"""The base of every settings model: unknown keys are errors, so a misspelt key never passes silently."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
