"""The `intake` command: the root group and every command group, each in its own module."""

from __future__ import annotations

import click

from gateway.cli.audit import audit
from gateway.cli.calendar import calendar
from gateway.cli.incidents import incident
from gateway.cli.operations import check_config, doctor, replay
from gateway.cli.processes import import_mbox, mail, serve, sync, up, worker
from gateway.cli.quarantine import quarantine
from gateway.cli.report import report
from gateway.cli.retention import purge
from gateway.cli.rules import rules
from gateway.cli.staff import staff
from gateway.cli.ticket_actions import ACTIONS as TICKET_ACTIONS
from gateway.cli.tickets import tickets
from gateway.cli.users import users
from gateway.logs import ONE_SHOT_LEVEL, setup_logging


@click.group()
@click.option("--config", "config", envvar="INTAKE_CONFIG", default=None, help="Path to gateway.yaml")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Intake Gateway: the single front door of a district's service desk."""
    # Before any command runs, so nothing it logs reaches Python's last-resort handler, which writes unmasked text.
    # The processes set `logging.level` once their settings are loaded.
    setup_logging(ONE_SHOT_LEVEL)
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


COMMANDS = (
    check_config,
    serve,
    worker,
    mail,
    sync,
    import_mbox,
    up,
    tickets,
    replay,
    doctor,
    quarantine,
    rules,
    calendar,
    staff,
    incident,
    purge,
    report,
    users,
    audit,
)
for command in COMMANDS:
    main.add_command(command)
for action in TICKET_ACTIONS:
    tickets.add_command(action)

if __name__ == "__main__":
    main()
