"""Every word of the dashboard and the reports, per staff page language (English for now; a translation is one
more dict with the same keys, and `StaffWords` falls back to English for a language it does not have).

A value shown as it is stored (a channel, a priority, a status) is said in the words the desk uses for it
(gateway/web/desk/words.py, in every language of the staff pages), through `StaffWords.label`.

Placeholders use str.format names; a translation keeps them.
"""

from __future__ import annotations

from datetime import datetime

from gateway.settings import Settings
from gateway.web.names import value_name
from gateway.web.staff.strings import STAFF_STRINGS as VALUE_WORDS

EN: dict[str, str] = {
    "site_name": "District Help Desk",
    "skip_to_content": "Skip to main content",
    "nav_label": "Staff pages",
    "nav_desk": "Desk",
    "nav_dashboard": "Dashboard",
    "nav_reports": "Reports",
    "signed_in_as": "Signed in as {name}",
    # The dashboard
    "dashboard_title": "Dashboard",
    "dashboard_intro": "The whole service now. It follows every change by itself; there is no need to reload.",
    "live_connecting": "Connecting for live updates…",
    "live_on": "Live. Last updated {time}.",
    "live_off": "Live updates paused: trying again. Shown as of {time}.",
    "updated_at": "As of {time}.",
    "stale_parts": "Could not be read just now (shown as last read): {parts}.",
    "incoming_title": "Incoming",
    "incoming_caption": "Requests received, by channel and department",
    "last_hour": "Last hour",
    "today": "Today",
    "channel": "Channel",
    "department": "Department",
    "total": "Total",
    "nothing_yet": "Nothing yet.",
    "queues_title": "Open tickets",
    "queues_caption": "Open, unassigned, due soon and overdue tickets, by department",
    "open": "Open",
    "unassigned": "Unassigned",
    "due_soon": "Due soon",
    "overdue": "Overdue",
    "due_soon_hint": "A response clock due within {minutes} minutes.",
    "sla_title": "Response clocks",
    "clocks_caption": "The clocks due soonest",
    "ticket": "Ticket",
    "priority": "Priority",
    "clock": "Clock",
    "due": "Due",
    "clock_first_response": "First response",
    "clock_resolution": "Resolution",
    "overdue_since": "overdue since {time}",
    "no_clocks": "No response clock is running.",
    "clocks_shown": "{shown} of {total} running clocks, the soonest due first.",
    "clocks_link": "All {n} due soon or overdue, at the desk",
    "breaches_caption": "Clocks that ran out (since counting began), by department",
    "breaches_none": "No clock has run out.",
    "breaches_first": "First response",
    "breaches_resolution": "Resolution",
    "incidents_title": "Active incidents",
    "incidents_none": "No incident is open.",
    "incident": "Incident",
    "status": "Status",
    "linked": "Linked requests",
    "fanout": "Families told of the latest update",
    "fanout_progress": "{done} of {total}",
    "fanout_none": "No update yet",
    "times_title": "Response times",
    "times_caption": "Requests made in the last {days} days, in business time (the SLA's calendar)",
    "requests": "Requests",
    "answered": "Answered",
    "resolved": "Resolved",
    "median": "Median",
    "p90": "90% within",
    "first_response": "Time to first response",
    "resolution": "Time to resolution",
    "satisfaction_title": "Satisfaction",
    "satisfaction_caption": "Family surveys sent in the last {days} days, by department, channel, language and school "
    "(satisfied: rated 4 or 5; goal {goal}%)",
    "satisfaction_trend_caption": "Satisfied families per day, against the goal of {goal}%",
    "satisfaction_none": "No family survey was sent in the last {days} days.",
    "surveys_sent": "Surveys",
    "surveys_answered": "Answered",
    "response_rate": "Response rate",
    "average_rating": "Average (1-5)",
    "satisfied": "Satisfied",
    "vs_goal": "Against the goal",
    "day": "Day",
    "language": "Language",
    "school": "School",
    "health_title": "Mailboxes and channels",
    "health_caption": "Whether each part of the service is working",
    "part": "Part",
    "state": "State",
    "detail": "Detail",
    "ok": "Working",
    "not_ok": "Needs attention",
    "kind_redis": "Queue store (Redis)",
    "kind_spool": "Local spool",
    "kind_mailbox": "Mailbox",
    "kind_backend": "Ticket system",
    "kind_channel": "Channel",
    "spool_detail": "{n} waiting",
    "backend_up": "Up",
    "backend_down": "Down",
    "backend_rate_limited": "Rate-limiting us",
    "backend_auth_failed": "Refusing our credentials",
    "health_parked": "Replies waiting to be sent: {n}",
    "health_mailboxes": "Mailboxes that need attention: {n}",
    # The reports
    "reports_title": "Reports",
    "reports_intro": "Choose a report and a range. Each graph has its table below it and a CSV file to download.",
    "report_label": "Report",
    "range_label": "Range",
    "date_label": "A day in the range",
    "term_label": "School term",
    "by_label": "Group by",
    "show": "Show",
    "download_csv": "Download CSV",
    "report_volume": "Volume",
    "report_response": "Response times",
    "report_time-spent": "Time spent",
    "report_equity": "Equity",
    "range_day": "Day",
    "range_week": "Week",
    "range_term": "School term",
    "range_year": "School year",
    "range_shown": "{report}: {range}",
    "table_caption": "{report}, {range}, by {by}",
    "chart_label": "Graph: {title}",
    "chart_note": "The same numbers are in the table below.",
    "no_data": "Nothing in this range.",
    "times_note": "Times are business minutes in the SLA's calendar; a median is the middle value, 90% within the "
    "time 90% of requests took at most.",
    "by_all": "everything",
    "by_channel": "channel",
    "by_queue": "department",
    "by_category": "category",
    "by_school": "school",
    "by_language": "language",
    "by_priority": "priority",
    "by_work_type": "work type",
    "by_person": "person",
    "col_period": "Period",
    "col_total": "Total",
    "col_dimension": "Compared by",
    "col_value": "Value",
    "col_tickets": "Requests",
    "col_answered": "Answered",
    "col_first_response_median": "First response, median (min)",
    "col_first_response_p90": "First response, 90% within (min)",
    "col_resolved": "Resolved",
    "col_resolution_median": "Resolution, median (min)",
    "col_resolution_p90": "Resolution, 90% within (min)",
    "col_minutes": "Minutes",
    "col_hours": "Hours",
    "col_entries": "Entries",
    "col_share": "Share (%)",
    "unit_requests": "requests",
    "unit_minutes": "business minutes",
    "unit_hours": "hours",
    "series_first_response_median": "First response (median)",
    "series_resolution_median": "Resolution (median)",
    "series_hours": "Hours",
    "range_error": "That range cannot be shown: {problem}",
    "months": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    "days": "Mon Tue Wed Thu Fri Sat Sun",
}

STAFF_STRINGS: dict[str, dict[str, str]] = {"en": EN}


class StaffWords:
    """The strings of one staff page language (`t.key`, `t.fmt("key", ...)`), values named as the configuration
    names them (departments, schools), and times in the district's zone."""

    def __init__(self, lang: str, settings: Settings) -> None:
        self.lang = lang if lang in STAFF_STRINGS else "en"
        self.zone = settings.zone
        self._settings = settings
        self._strings = STAFF_STRINGS[self.lang]
        self._values = VALUE_WORDS.get(lang, VALUE_WORDS["en"])

    def __getattr__(self, key: str) -> str:
        try:
            return self._strings[key]
        except KeyError:
            raise AttributeError(key) from None

    def get(self, key: str, default: str | None = None) -> str:
        return self._strings.get(key, EN.get(key, default if default is not None else key))

    def label(self, kind: str, value: str) -> str:
        """A stored value in the staff pages' words (`channel` `sms` is "Text message"); the value itself when no
        word is kept for it (a channel added later still reads sensibly)."""
        key = f"{kind}_{value}"
        return self._values.get(key) or VALUE_WORDS["en"].get(key) or value

    def name_of(self, kind: str, value: str) -> str:
        """A department, school or language as staff read it ("Human Resources", "Vietnamese"), not its id; a
        channel, priority or status in the staff pages' words; anything else as it is."""
        if kind in ("channel", "priority", "status"):
            return self.label(kind, value)
        return value_name(self._settings, {**VALUE_WORDS["en"], **self._values}, kind, value, self.lang)

    def fmt(self, key: str, **values: object) -> str:
        return self.get(key).format(**values)

    def clock(self, at: datetime) -> str:
        """A time of today as staff read it: 14:05, in the district's zone."""
        return f"{at.astimezone(self.zone):%H:%M}"

    def when(self, at: datetime) -> str:
        """A date and time in the district's zone: Mon 1 Feb 14:05."""
        local = at.astimezone(self.zone)
        day = self._strings["days"].split()[local.weekday()]
        month = self._strings["months"].split()[local.month - 1]
        return f"{day} {local.day} {month} {local:%H:%M}"
