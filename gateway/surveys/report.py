"""The satisfaction report: surveys sent in a range, how many were answered, and how satisfied families were.

Counted from the survey records (gateway/surveys/record.py), by when each survey went out. A family is *satisfied*
when they rated 4 or 5; `satisfied_pct` is their share of the answers, compared with the district's goal
(`surveys.goal_percent`). By `period`, the rows are the range's periods (hours, days, weeks or months, as the other
reports graph them): the trend against the goal. Every group is listed: nothing is cut off.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis

from gateway import keys
from gateway.reports.ranges import Range
from gateway.surveys.record import Survey, as_survey

BY = ("department", "channel", "language", "school", "category", "assignee", "period")
COLUMNS = ["surveys", "answered", "response_rate_pct", "average_rating", "satisfied_pct", "goal_pct", "vs_goal"]
NONE = "(none)"
CHUNK = 500


@dataclass
class Tally:
    sent: int = 0
    ratings: list[int] = field(default_factory=list)

    def row(self, goal: float) -> list[str]:
        answered = len(self.ratings)
        rate = 100 * answered / self.sent if self.sent else None
        average = sum(self.ratings) / answered if answered else None
        satisfied = 100 * sum(1 for r in self.ratings if r >= 4) / answered if answered else None
        gap = satisfied - goal if satisfied is not None else None
        return [str(self.sent), str(answered), _num(rate), _num(average, 2), _num(satisfied), _num(goal), _num(gap)]


def _num(value: float | None, places: int = 1) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _name(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def surveys_sent(r: redis.Redis, rng: Range) -> Iterator[tuple[float, Survey]]:
    """Every survey sent within the range, with when it went out, read in chunks."""
    found = r.zrangebyscore(keys.SURVEYS_SENT, rng.start.timestamp(), f"({rng.until.timestamp()}", withscores=True)
    pairs = [(_name(item[0]), float(item[1])) for item in found]
    for i in range(0, len(pairs), CHUNK):
        chunk = pairs[i : i + CHUNK]
        with r.pipeline(transaction=False) as pipe:
            for conv, _ in chunk:
                pipe.hgetall(keys.survey(conv))
            records = pipe.execute()
        for (conv, at), raw in zip(chunk, records, strict=True):
            survey = as_survey(conv, raw)
            if survey is not None:
                yield at, survey


def csat_rows(r: redis.Redis, rng: Range, by: str, goal: float) -> list[list[str]]:
    """One row per group (or period), then the total; each with COLUMNS after the group's name."""
    if by not in BY:
        raise ValueError(f"csat is reported by {', '.join(BY)}, not {by!r}")
    periods = rng.periods() if by == "period" else []
    groups: dict[str, Tally] = defaultdict(Tally)
    for p in periods:
        groups[p.label] = Tally()
    total = Tally()
    for at, survey in surveys_sent(r, rng):
        if by == "period":
            name = next((p.label for p in periods if p.start.timestamp() <= at < p.until.timestamp()), NONE)
        else:
            name = survey.fields.get(by) or NONE
        for tally in (groups[name], total):
            tally.sent += 1
            if survey.rating is not None:
                tally.ratings.append(survey.rating)
    order = list(groups) if by == "period" else sorted(groups)
    return [[name, *groups[name].row(goal)] for name in order] + [["total", *total.row(goal)]]


def to_csv(by: str, rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([by, *COLUMNS])
    writer.writerows(rows)
    return buffer.getvalue()


def to_table(title: str, by: str, rows: list[list[str]]) -> str:
    cells = [[by, *COLUMNS]] + [[c or "-" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = [title]
    for row in cells:
        padded = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines) + "\n"
