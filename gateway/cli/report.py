"""`intake report volume|response|time-spent|equity|csat`: the reports of /reports from the command line, as a table
(the default) or as CSV for a spreadsheet."""

from __future__ import annotations

from datetime import date

import click

from gateway.cli.common import CLOCK, load_router, settings

RANGE_CHOICES = ("day", "week", "term", "year")


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date like 2027-02-01, got {value!r}", param_hint=name) from None


def _run(ctx: click.Context, name: str, by: str | None, first: str | None, last: str | None, span: str | None,
         on: str | None, term: str | None, as_csv: bool) -> None:  # fmt: skip
    import redis
    import sqlalchemy as sa

    from gateway.calendars.closures import closures
    from gateway.reports import compute, output, ranges
    from gateway.store.redis_conn import sync_client
    from gateway.tickets import TicketStore

    s = settings(ctx)
    start, end, day = _day(first, "--from"), _day(last, "--to"), _day(on, "--date")
    try:
        if start or end:
            if span:
                raise ranges.RangeError("give either --from/--to or --range, not both")
            today = ranges.today(s, CLOCK.now())
            rng = ranges.resolve(s, "custom", first=start or end, last=end or today)
        else:
            kind = span or ("term" if term else "week")
            rng = ranges.resolve(s, kind, day or ranges.today(s, CLOCK.now()), term=term)
        report_name = next(r for r in compute.REPORTS if r == name)
        compute.field_for(report_name, by)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    days_closed: dict[date, str] = {}
    if report_name in ("response", "equity"):
        client = sync_client(s)
        try:
            days_closed = closures(client)
        except (redis.RedisError, OSError):
            click.echo("warning: Redis is not reachable: ad-hoc closures are not left out of the times", err=True)
        finally:
            client.close()
    try:
        store = TicketStore.from_settings(s)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"the ticket store's database cannot be reached: {exc.orig}") from None
    try:
        rules = load_router(ctx, s).rules
        report = compute.run(report_name, store, rng, by, rules, set(days_closed))
    finally:
        store.close()
    click.echo(output.to_csv(report) if as_csv else output.to_table(report), nl=False)


def _report_command(name: str, summary: str) -> click.Command:
    from gateway.reports.compute import BY

    @click.command(name, help=summary)
    @click.option("--from", "first", help="The first day (YYYY-MM-DD, the district's calendar).")
    @click.option("--to", "last", help="The last day, included (default: today).")
    @click.option("--range", "span", type=click.Choice(RANGE_CHOICES), help="A day, week, school term or school year.")
    @click.option("--date", "on", help="A day the --range covers (default: today).")
    @click.option("--term", help="A school term by name (reports.terms).")
    @click.option("--by", help=f"Group by: {', '.join(BY[name])}.")  # type: ignore[index]
    @click.option("--csv", "as_csv", is_flag=True, help="CSV with a header line, for a spreadsheet.")
    @click.pass_context
    def command(ctx: click.Context, first: str | None, last: str | None, span: str | None, on: str | None,
                term: str | None, by: str | None, as_csv: bool) -> None:  # fmt: skip
        _run(ctx, name, by, first, last, span, on, term, as_csv)

    return command


@click.group()
def report() -> None:
    """Reports over a range of days, as a table or --csv (the same as /reports)."""


for _name, _summary in (
    ("volume", "Requests made, per period, by channel, department (queue), category, school, language or priority."),
    ("response", "Time to first response and to resolution, in business minutes (the SLA's calendar)."),
    ("time-spent", "Time logged on tickets, by work type, person or department."),
    ("equity", "Response and resolution times by the family's language, channel and school."),
):
    report.add_command(_report_command(_name, _summary))


@report.command("csat")
@click.option("--from", "first", help="The first day (YYYY-MM-DD, the district's calendar).")
@click.option("--to", "last", help="The last day, included (default: today).")
@click.option("--range", "span", type=click.Choice(RANGE_CHOICES), help="A day, week, school term or school year.")
@click.option("--date", "on", help="A day the --range covers (default: today).")
@click.option("--term", help="A school term by name (reports.terms).")
@click.option(
    "--by",
    default="department",
    show_default=True,
    help="Group by: department, channel, language, school, category, assignee, or period (the trend).",
)
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header line, for a spreadsheet.")
@click.pass_context
def csat(ctx: click.Context, first: str | None, last: str | None, span: str | None, on: str | None,
         term: str | None, by: str, as_csv: bool) -> None:  # fmt: skip
    """Satisfaction surveys sent, answered, average rating and share satisfied (4-5) against the goal."""
    import redis

    from gateway.reports import ranges
    from gateway.store.redis_conn import sync_client
    from gateway.surveys import report as csat_report

    s = settings(ctx)
    start, end, day = _day(first, "--from"), _day(last, "--to"), _day(on, "--date")
    by = "department" if by == "queue" else by
    try:
        if start or end:
            if span:
                raise ranges.RangeError("give either --from/--to or --range, not both")
            rng = ranges.resolve(s, "custom", first=start or end, last=end or ranges.today(s, CLOCK.now()))
        else:
            kind = span or ("term" if term else "week")
            rng = ranges.resolve(s, kind, day or ranges.today(s, CLOCK.now()), term=term)
        if by not in csat_report.BY:
            raise ValueError(f"csat is reported by {', '.join(csat_report.BY)}, not {by!r}")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    client = sync_client(s)
    try:
        rows = csat_report.csat_rows(client, rng, by, s.surveys.goal_percent)
    except (redis.RedisError, OSError) as exc:
        raise click.ClickException(
            f"Redis cannot be reached ({type(exc).__name__}): the surveys are kept there"
        ) from None
    finally:
        client.close()
    title = f"csat {rng.label} (by {by}, goal {s.surveys.goal_percent:g}%)"
    click.echo(csat_report.to_csv(by, rows) if as_csv else csat_report.to_table(title, by, rows), nl=False)
