"""The README is the user's manual: every setting, variable, command and channel is in it."""

from __future__ import annotations

import re

from pydantic import BaseModel

from channels import CHANNELS
from gateway.cli.main import main
from gateway.settings import ENV_OVERRIDES, Settings
from tests.support.gateway import REPO
from workers.backends import BACKENDS

README = (REPO / "README.md").read_text()
CONFIG = (REPO / "config" / "gateway.yaml").read_text()


def setting_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(setting_keys(ann, key + "."))
        else:
            out.append(key)
    return out


def test_every_setting_is_documented() -> None:
    missing = [k for k in setting_keys(Settings) if f"`{k}`" not in README]
    assert missing == []


def test_every_setting_of_a_plug_in_channel_is_documented() -> None:
    keys = [
        f"channels.{name}.{key}"
        for name, cls in CHANNELS.items()
        if cls.settings_model is not None
        for key in setting_keys(cls.settings_model)
    ]
    assert keys, "no plug-in channel brings settings: the test would prove nothing"
    assert [k for k in keys if f"`{k}`" not in README] == []


def test_every_setting_a_backend_plug_in_brings_is_documented() -> None:
    """A plug-in's own `backends.<name>` section is checked against its model at start, so it is documented too."""
    keys = [
        f"backends.{name}.{key}"
        for name, cls in BACKENDS.items()
        if cls.settings_model is not None
        for key in setting_keys(cls.settings_model)
    ]
    assert keys, "no plug-in brings a section: the test would prove nothing"
    assert [k for k in keys if f"`{k}`" not in README] == []


def test_every_environment_variable_is_documented() -> None:
    values = "\n".join(line for line in CONFIG.splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{([A-Z_]+)", values)) | set(ENV_OVERRIDES) | {"INTAKE_CONFIG"}
    assert sorted(v for v in used if f"`{v}`" not in README) == []


def test_every_command_is_documented() -> None:
    commands = [f"intake {name}" for name in main.commands]
    assert [c for c in commands if c not in README] == []


def test_every_channel_is_documented() -> None:
    assert [c for c in CHANNELS if f"| `{c}` |" not in README] == []


def test_the_channels_table_is_one_table() -> None:
    """A blank line inside a Markdown table ends it: the rows after it render as loose text."""
    section = README[README.index("## Channels") :]
    block = section[section.index("| channel |") :].split("\n\n", 1)[0]
    assert [c for c in CHANNELS if f"| `{c}` |" not in block] == []


def test_the_two_commands_come_first() -> None:
    assert README.index("make run") < README.index("## Using it")
    assert README.index("make test") < README.index("## Using it")
