"""GET /reports: a report over a range (a day, a week, a school term, a school year), its graphs and its table;
GET /reports/<report>.csv the same numbers as a file. Supervisors and admins; `intake report` is the same from the
command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from aiohttp import web

from gateway.calendars.closures import closures_async
from gateway.reports import compute, output, ranges
from gateway.routing.model import RuleSet
from gateway.server import appkeys as K
from gateway.web.insight.access import SUPERVISORS, requires, store
from gateway.web.insight.render import staff_page, words
from gateway.web.insight.strings import StaffWords

RULES: web.AppKey[Callable[[], RuleSet]] = web.AppKey("report_rules")
DASH = "\u2013"  # shown where there is nothing to measure
NUMERIC = ("minutes", "hours", "entries", "share", "total", "period", "dimension", "value")
SPANS = ("day", "week", "term", "year")


class Choice:
    """What the page's form asked for, checked; `problem` says what was wrong (the page then shows a week)."""

    def __init__(self, request: web.Request, name: str | None = None) -> None:
        q = request.query
        settings = request.app[K.SETTINGS]
        self.report: compute.Name = next((r for r in compute.REPORTS if r == (name or q.get("report"))), "volume")
        self.span: str = q.get("range", "week") if q.get("range") in SPANS else "week"
        self.term = q.get("term") or None
        self.by = q.get("by") or None
        self.problem = ""
        try:
            self.on = date.fromisoformat(q["date"]) if q.get("date") else ranges.today(settings)
            if self.by is not None:
                self.by = compute.field_for(self.report, self.by)
            self.range = ranges.resolve(settings, self.span, self.on, term=self.term if self.span == "term" else None)
        except (ValueError, KeyError) as exc:
            self.problem = str(exc)
            self.on, self.span, self.by = ranges.today(settings), "week", None
            self.range = ranges.resolve(settings, "week", self.on)

    def query(self) -> str:
        parts = {"range": self.span, "date": self.on.isoformat(), "by": self.by or "", "term": self.term or ""}
        return "&".join(f"{k}={v}" for k, v in parts.items() if v)


async def _report(request: web.Request, choice: Choice) -> compute.Report:
    app = request.app
    days = set(await closures_async(app[K.REDIS])) if choice.report in ("response", "equity") else set()
    return await asyncio.to_thread(compute.run, choice.report, store(app), choice.range, choice.by, app[RULES](), days)


def _label(t: StaffWords, value: str, column: bool) -> str:
    return t.get(f"col_{value}", value) if column else value


def inert_json(value: Any) -> str:
    """JSON to sit inside <script type="application/json">: no character of it can close the element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chart_spec(t: StaffWords, chart: compute.Chart, by: str) -> dict[str, Any]:
    return {
        "kind": chart.kind,
        "labels": chart.labels,
        "series": [[t.get(f"series_{name}", name), values] for name, values in chart.series],
        "unit": t.get(f"unit_{chart.unit}"),
        "x_label": t.get(f"by_{by}", by),
    }


@requires(*SUPERVISORS)
async def show_reports(request: web.Request) -> web.Response:
    choice = Choice(request)
    t = words(request)
    report = await _report(request, choice)
    terms = request.app[K.SETTINGS].reports.terms
    charts = [
        {"title": t.get(f"by_{c.title.split('_', 2)[-1]}", c.title), "spec": inert_json(chart_spec(t, c, report.by))}
        for c in report.charts
        if c.labels
    ]
    context = {
        "choice": choice,
        "report": report,
        "reports": compute.REPORTS,
        "spans": SPANS,
        "terms": terms,
        "by_choices": compute.BY[choice.report],
        "charts": charts,
        "headers": [
            _label(t, c, i == 0 or c in compute.STAT_COLUMNS or c in NUMERIC) for i, c in enumerate(report.columns)
        ],
        "cells": [[output.cell(v) or DASH for v in row] for row in report.rows],
        "csv_href": f"/reports/{choice.report}.csv?{choice.query()}",
    }
    return staff_page(request, "reports.html", "reports", context)


@requires(*SUPERVISORS)
async def report_csv(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in compute.REPORTS:
        return web.json_response({"error": "unknown_report", "reports": list(compute.REPORTS)}, status=404)
    choice = Choice(request, name)
    if choice.problem:
        return web.json_response({"error": "bad_range", "problem": choice.problem}, status=400)
    report = await _report(request, choice)
    filename = f"{name}-{choice.range.first.isoformat()}-{choice.range.last.isoformat()}.csv"
    return web.Response(
        text=output.to_csv(report), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
                 "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


def add_reports(app: web.Application, rules: Callable[[], RuleSet]) -> None:
    app[RULES] = rules
    app.router.add_get("/reports", show_reports)
    app.router.add_get("/reports/{name}.csv", report_csv)
