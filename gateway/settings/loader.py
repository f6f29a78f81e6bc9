"""Loading `config/gateway.yaml`: `${VAR}` / `${VAR:-default}` substitution, environment overrides, validation.

Validated once, at start. Every problem names the file, the key and what was expected."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.errors import ConfigError
from gateway.settings.base import describe
from gateway.settings.model import Settings

DEFAULT_CONFIG = Path("config/gateway.yaml")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# Environment variables that override a key whatever the file says (DESIGN.md section 10).
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "HOST": ("server", "host"),
    "PORT": ("server", "port"),
    "PUBLIC_BASE_URL": ("server", "public_base_url"),
    "INTAKE_DATA_DIR": ("data_dir",),
    "REDIS_URL": ("redis", "url"),
    "REDIS_SENTINELS": ("redis", "sentinels"),
    "REDIS_MASTER_NAME": ("redis", "master_name"),
    "REDIS_USERNAME": ("redis", "username"),
    "REDIS_PASSWORD": ("redis", "password"),
    "REDIS_SENTINEL_USERNAME": ("redis", "sentinel_username"),
    "REDIS_SENTINEL_PASSWORD": ("redis", "sentinel_password"),
    "REDIS_TLS": ("redis", "tls"),
    "REDIS_TLS_CA_FILE": ("redis", "tls_ca_file"),
    "REDIS_TLS_CERT_FILE": ("redis", "tls_cert_file"),
    "REDIS_TLS_KEY_FILE": ("redis", "tls_key_file"),
    "DATABASE_URL": ("backends", "builtin", "database_url"),
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
        raise ConfigError([describe(file, err) for err in exc.errors()]) from None
    return settings.model_copy(update={"source_file": str(file)})
