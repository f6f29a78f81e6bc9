"""The `intake` command: one command group per module, sharing `gateway.cli.common`."""

from gateway.cli.main import main

__all__ = ["main"]
