"""The README is the user's manual: every setting, variable, command and channel is in it."""

from __future__ import annotations

import importlib
import importlib.util
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


# How the README's opening names each registered channel and ticket system to a reader. A plug-in added to a
# registry without words here fails the test: the intro is the first thing a district reads.
CHANNEL_WORDS = {
    "webform": "web form",
    "email": "email",
    "slack": "Slack",
    "sms": "SMS",
    "voice": "voicemail",
    "meta": "Meta",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "x": "X direct messages",
}
BACKEND_WORDS = {
    "builtin": "built-in ticket store",
    "webhook": "webhook",
    "email": "email forward",
    "rt": "Request Tracker",
    "redmine": "Redmine",
    "zammad": "Zammad",
    "freshdesk": "Freshdesk",
    "zendesk": "Zendesk",
}
INTRO = " ".join(README[: README.index("## Two commands")].replace("**", "").split())


def test_the_intro_names_every_channel() -> None:
    assert sorted(CHANNEL_WORDS) == sorted(CHANNELS)
    assert [words for words in CHANNEL_WORDS.values() if words not in INTRO] == []


def test_the_intro_names_every_ticket_system() -> None:
    assert sorted(BACKEND_WORDS) == sorted(BACKENDS)
    assert [words for words in BACKEND_WORDS.values() if words not in INTRO] == []


ARCHITECTURE = README[README.index("## Architecture") :].split("\n## ", 1)[0]
STEPS = ["HTTP", "Channel", "Normalizer", "Pipeline", "Commit", "Worker", "Backend", "Outbox", "Channel again"]
SOURCE = ("gateway", "channels", "normalizers", "workers")


def test_the_architecture_section_walks_one_message_through_every_step_in_order() -> None:
    assert re.findall(r"^\d+\. \*\*([^*]+)\*\*", ARCHITECTURE, flags=re.MULTILINE) == STEPS


def _exists(named: str) -> bool:
    """A path the section names, from the top of the repository or from inside a package it names elsewhere."""
    if "/" not in named:  # a module named within its step: `app.py`, `builtin.py`
        return any(next((REPO / root).rglob(named), None) for root in SOURCE)
    bases = [REPO, REPO / "gateway", REPO / "workers", REPO / "workers" / "backends"]
    return any((base / named.rstrip("/")).exists() for base in bases)


def test_every_module_the_architecture_section_names_exists() -> None:
    """The map a new engineer reads first must not send them to a module that moved."""
    named = [p for p in re.findall(r"`([^`\s]+)`", ARCHITECTURE) if p.endswith((".py", "/")) and "<" not in p]
    assert len(named) > 30, "the section names modules: the test would prove nothing"
    assert [p for p in named if not _exists(p)] == []


def test_every_dotted_name_the_architecture_section_names_imports() -> None:
    dotted = [d for d in re.findall(r"`([a-z_]+(?:\.[A-Za-z_]+)+)`", ARCHITECTURE) if d.startswith(SOURCE)]
    assert dotted, "the section names entry points: the test would prove nothing"
    missing = []
    for name in dotted:
        module, _, attr = name.rpartition(".")
        try:
            found = hasattr(importlib.import_module(module), attr)
        except ImportError:
            found = importlib.util.find_spec(name) is not None
        if not found:
            missing.append(name)
    assert missing == []
