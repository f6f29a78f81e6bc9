"""desk_queries.py's reads: what the desk's pages and the dashboard read from the store, through their own code.

Each case is a desk address (`/desk?...`, `/desk/tickets/<id>`, `/desk/export.csv?...`) read the way its page
reads it: `read_view` turns the address into the store's query as the signed-in person may see it, then
`read_list` / `read_ticket` / `export_chunks` (gateway/web/desk/) run what the page runs; the dashboard is
`read_parts` (gateway/dashboard/snapshot.py), every part, as each refresh reads it. Nothing here writes SQL.

People: `agent` works IT (the largest department) as one of its people; `supervisor` sees every department.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.desk_load import INCIDENTS, STAFF, VOCAB

PER_PAGE = 50


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # list, search, ticket, export, dashboard
    run: Callable[[], Any]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


def _people() -> dict[str, Any]:
    from gateway.accounts.roles import StaffUser

    agent = STAFF["it"][0]
    return {
        "agent": StaffUser(agent, agent.title(), "agent", ("it",)),
        "supervisor": StaffUser("bench.supervisor", "Bench Supervisor", "supervisor"),
    }


def add_people(store: Any) -> None:
    """The departments' people as accounts (the desk's choices read them on every page), once per store."""
    from gateway.tickets import UserExists

    for queue, names in STAFF.items():
        for name in names:
            try:
                store.users.add(name, name.title(), "agent", departments=(queue,))
            except UserExists:
                return  # a store kept from an earlier run has them


def list_addresses(tickets: int) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (person, the list's query string as a dict): every filter and sort the desk's list offers."""
    deep = str(min(200, max(1, tickets // 5000)))  # page 200 of a million; a smaller store: as deep as it goes
    return {
        "default_agent": ("agent", {}),
        "default_all": ("supervisor", {}),
        "status_any": ("supervisor", {"status": "any"}),
        "status_done": ("supervisor", {"status": "done"}),
        "status_new": ("agent", {"status": "new"}),
        "status_waiting": ("supervisor", {"status": "waiting"}),
        "status_resolved": ("agent", {"status": "resolved"}),
        "priority_urgent": ("supervisor", {"priority": "urgent"}),
        "priority_low": ("agent", {"priority": "low"}),
        "assignee_me": ("agent", {"assignee": "me"}),
        "assignee_nobody": ("agent", {"assignee": "none"}),
        "assignee_me_or_nobody": ("agent", {"assignee": "me_or_none"}),
        "assignee_person": ("supervisor", {"assignee": STAFF["transportation"][1]}),
        "assignee_person_any_status": ("supervisor", {"assignee": STAFF["it"][3], "status": "any"}),
        "department": ("supervisor", {"queue": "transportation"}),
        "department_any_status": ("supervisor", {"queue": "hr", "status": "any"}),
        "channel": ("supervisor", {"channel": "sms"}),
        "channel_any_status": ("agent", {"channel": "voice", "status": "any"}),
        "school": ("agent", {"school": "s03"}),
        "school_any_status": ("supervisor", {"school": "s07", "status": "any"}),
        "language": ("supervisor", {"language": "vi"}),
        "language_any_status": ("supervisor", {"language": "zh", "status": "any"}),
        "due_soon": ("agent", {"due": "soon"}),
        "due_overdue": ("supervisor", {"due": "overdue"}),
        "due_soon_or_overdue": ("agent", {"due": "soon_or_overdue"}),
        "incident": ("supervisor", {"incident": INCIDENTS[3], "status": "any"}),
        "filters_together": ("agent", {"priority": "high", "channel": "email", "language": "es", "due": "overdue"}),
        "sort_newest": ("agent", {"sort": "newest"}),
        "sort_oldest": ("supervisor", {"sort": "oldest"}),
        "sort_updated": ("agent", {"sort": "updated"}),
        "sort_newest_any": ("supervisor", {"sort": "newest", "status": "any"}),
        "sort_oldest_any": ("agent", {"sort": "oldest", "status": "any"}),
        "sort_updated_any": ("supervisor", {"sort": "updated", "status": "any"}),
        "sort_priority_any": ("supervisor", {"status": "any"}),
        "per_page_100": ("supervisor", {"per_page": "100"}),
        "deep_open": ("supervisor", {"page": str(min(200, max(1, tickets // 20 // PER_PAGE)))}),
        "deep_any_priority": ("supervisor", {"status": "any", "page": deep}),
        "deep_any_newest": ("supervisor", {"status": "any", "sort": "newest", "page": deep}),
        "deep_done_updated": ("agent", {"status": "done", "sort": "updated", "page": deep}),
        "deep_school_oldest": ("supervisor", {"status": "any", "school": "s02", "sort": "oldest", "page": deep}),
    }


def search_addresses() -> dict[str, tuple[str, dict[str, str]]]:
    """Searches as the desk's list takes them (`q` with its filters), from the commonest word to a rare one."""
    common, mid, rare, pair_a, pair_b, stem = VOCAB[2], VOCAB[40], VOCAB[3000], VOCAB[12], VOCAB[250], VOCAB[60][:4]
    return {
        "common_word": ("agent", {"q": common}),
        "common_word_any": ("supervisor", {"q": common, "status": "any"}),
        "mid_word": ("agent", {"q": mid}),
        "mid_word_any": ("supervisor", {"q": mid, "status": "any"}),
        "rare_word_any": ("supervisor", {"q": rare, "status": "any"}),
        "two_words_any": ("supervisor", {"q": f"{pair_a} {pair_b}", "status": "any"}),
        "phrase_any": ("agent", {"q": f'"{VOCAB[0]} {VOCAB[1]}"', "status": "any"}),
        "prefix_any": ("supervisor", {"q": f"{stem}*", "status": "any"}),
        "filtered": ("supervisor", {"q": mid, "status": "any", "language": "es", "channel": "sms"}),
        "filtered_newest": ("agent", {"q": common, "status": "any", "school": "s05", "sort": "newest"}),
        "deep_any": ("supervisor", {"q": mid, "status": "any", "page": "20"}),
        "family_address": ("supervisor", {"q": "family12345", "status": "any"}),
    }


def cases(store: Any, settings: Any, sources: Any, tickets: int, rng: random.Random) -> list[Case]:
    from gateway.dashboard.snapshot import PARTS, Snapshot, read_parts
    from gateway.tickets import TicketQuery
    from gateway.web.desk.filters import read_view
    from gateway.web.desk.listing import read_list
    from gateway.web.desk.ticket_page import read_ticket

    people = _people()
    channels = sources.channels
    soon = settings.dashboard.due_soon  # as the desk reads it, so the dashboard's counts and the lists agree

    def listing(person: str, params: dict[str, str]) -> Callable[[], Any]:
        user = people[person]

        def run() -> Any:
            found, _ = read_list(store, read_view(params, user, soon), settings, user, channels, "en")
            return found.total

        return run

    def family(person: str) -> Callable[[], Any]:
        user = people[person]

        def run() -> Any:
            tid = rng.randint(1, tickets)
            ticket = store.get(tid)
            return read_list(store, read_view({"family": str(tid)}, user, soon, ticket), settings, user, channels, "en")

        return run

    def ticket_page(person: str, pool: list[int]) -> Callable[[], Any]:
        user = people[person]
        return lambda: read_ticket(store, str(rng.choice(pool)), settings, user, channels, "en")

    def dashboard() -> Any:
        at = datetime.now(UTC)
        snap = read_parts(sources, Snapshot(at), set(PARTS), at)
        if snap.failed:
            raise RuntimeError(f"the dashboard could not read {snap.failed}")
        return snap

    out = [Case(f"list.{n}", "list", listing(*a)) for n, a in list_addresses(tickets).items()]
    out.append(Case("list.family", "list", family("supervisor")))
    out += [Case(f"search.{n}", "search", listing(*a)) for n, a in search_addresses().items()]
    # Tickets the page would show each person (an agent's: IT's), picked before the clock starts.
    anyone = [rng.randint(1, tickets) for _ in range(500)]
    theirs = [t.id for t in store.page(TicketQuery(queue=("it",)), sort="newest", per_page=500).items]
    theirs += [t.id for t in store.page(TicketQuery(queue=("it",), status=("open",)), per_page=500).items]
    out += [Case("ticket.agent", "ticket", ticket_page("agent", theirs)),
            Case("ticket.any", "ticket", ticket_page("supervisor", anyone))]  # fmt: skip
    out.append(Case("dashboard.whole_read", "dashboard", dashboard))
    return out


def export_addresses() -> dict[str, tuple[str, dict[str, str]]]:
    return {
        "open_priority": ("supervisor", {}),
        "any_newest": ("supervisor", {"status": "any", "sort": "newest"}),
        "any_priority": ("supervisor", {"status": "any"}),
        "school_any_oldest": ("agent", {"status": "any", "school": "s04", "sort": "oldest"}),
        "search_any": ("supervisor", {"q": VOCAB[40], "status": "any"}),
    }


def export_costs(store: Any, settings: Any, batches: int) -> dict[str, dict[str, Any]]:
    """The CSV export, per address: the first batch (what the person waits for before the download starts) and each
    of the next `batches` batches of 1,000 tickets (the export's per-page cost), in ms."""
    from gateway.web.desk.filters import read_view
    from gateway.web.desk.listing import export_chunks

    people = _people()
    out: dict[str, dict[str, Any]] = {}
    for name, (person, params) in export_addresses().items():
        first: list[float] = []
        each: list[float] = []
        for _ in range(3):
            t0 = time.perf_counter()
            view = read_view(params, people[person], settings.dashboard.due_soon)
            chunks: Iterator[str] = iter(export_chunks(store, view, settings.zone))
            next(chunks, None)
            first.append((time.perf_counter() - t0) * 1000)
            for _ in range(batches):
                t0 = time.perf_counter()
                if next(chunks, None) is None:
                    break
                each.append((time.perf_counter() - t0) * 1000)
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        out[name] = {"first_batch": percentiles(first), "per_batch": percentiles(each) if each else None}
    return out
