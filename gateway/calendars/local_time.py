"""Times for requesters: "Tuesday 10:00" in the district's zone, with the day named in their language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

DAY_NAMES = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "vi": ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"),
    "zh": ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"),
}
# Past this, a weekday alone is ambiguous: the date is added.
WEEK_S = 6 * 86400


def when(at: datetime, zone: ZoneInfo, language: str, now: datetime) -> str:
    """`at` as the requester should read it: "Tuesday 10:00", or "Monday 2027-01-04 07:30" when far off."""
    local = at.astimezone(zone)
    names = DAY_NAMES.get(language.split("-")[0], DAY_NAMES["en"])
    day = names[local.weekday()]
    if (at - now).total_seconds() > WEEK_S:
        return f"{day} {local.date().isoformat()} {local:%H:%M}"
    return f"{day} {local:%H:%M}"
