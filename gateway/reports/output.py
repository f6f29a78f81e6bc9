"""A report as an operator reads it (an aligned table) or a spreadsheet takes it (CSV, a header line first)."""

from __future__ import annotations

import csv
import io

from gateway.reports.compute import Report


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(report.columns)
    for row in report.rows:
        writer.writerow([cell(v) for v in row])
    return buffer.getvalue()


def to_table(report: Report) -> str:
    """Columns aligned, numbers to the right; a dash where there is nothing to measure."""
    cells = [report.columns] + [[cell(v) or "-" for v in row] for row in report.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(report.columns))]
    lines = [f"{report.name} {report.range.label} (by {report.by})"]
    for r in cells:
        parts = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"
