"""Staff's actions on tickets in the built-in store, for the desk's pages and `intake tickets` alike.

Each action is the store's write (with its audit entry, in one transaction: gateway/tickets/desk.py) and, when the
family must be told, one status event published after the write is committed. The events worker tells them on
their own channel through the outbox, with all its rules (opt-outs, quiet hours, language), and records it on the
conversation. A public reply is stored here once: the events worker only tells it (it writes no comment to the
store), and its event is named by the comment, so publishing it again tells the family nothing new.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import redis

from gateway.dashboard.changes import announce
from gateway.incidents.store import IncidentStore
from gateway.models import StatusEvent, TicketStatus
from gateway.routing.model import RuleSet
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.store.queues import publish_status_events
from gateway.tickets import OPEN_STATUSES, Refusal, Ticket, TicketQuery, TicketStore, TimeEntry
from workers.backends.builtin import BuiltinBackend
from workers.desk_actions import assigning, clocks, incidents, merging
from workers.desk_actions.assigning import Assignment
from workers.desk_actions.choices import Choices, check, desk_choices, refuse

BACKEND = BuiltinBackend.name
P = ParamSpec("P")
R = TypeVar("R")


class UnknownIncident(Refusal):
    """A link to an incident that does not exist."""


def _words(body: str, what: str) -> str:
    if not body.strip():
        raise ValueError(f"a {what} needs some words")
    return body


def _announced(action: Callable[Concatenate[DeskService, P], R]) -> Callable[Concatenate[DeskService, P], R]:
    """After the action's change is committed, tell the live dashboards (a reply or a status change is told by the
    events worker; these change the store alone, so without a notice the dashboard would wait for its refresh)."""

    @functools.wraps(action)
    def run(self: DeskService, /, *args: P.args, **kwargs: P.kwargs) -> R:
        done = action(self, *args, **kwargs)
        announce(self.r, "tickets")
        return done

    return run


class DeskService:
    def __init__(self, store: TicketStore, settings: Settings, connection: redis.Redis) -> None:
        self.store = store
        self.settings = settings
        self.r = connection
        self._router: Router | None = None

    def rules(self) -> RuleSet:
        """The routing rules, read again when the file changed (a web process lives long)."""
        if self._router is None:
            self._router = Router(self.settings)
        else:
            self._router.reload_if_changed()
        return self._router.rules

    def choices(self) -> Choices:
        """The queues, categories, priorities and work types a ticket may be given (those in use included)."""
        queues, categories = self.store.counts(("queue",)), self.store.counts(("category",))
        return desk_choices(self.settings, self.rules(), (q for (q,) in queues), (c for (c,) in categories))

    def _check(self, field: str, value: str) -> None:
        configured = desk_choices(self.settings, self.rules())
        allowed = {"priority": configured.priorities, "category": configured.categories, "queue": configured.queues}
        if value in allowed[field]:
            return
        in_use = TicketQuery(queue=(value,)) if field == "queue" else TicketQuery(category=(value,))
        if field != "priority" and self.store.count(in_use):
            return
        every = self.choices()
        raise refuse(field, value, {"priority": every.priorities, "category": every.categories,
                                    "queue": every.queues}[field])  # fmt: skip

    def reply(self, ref: str | int, body: str, actor: str) -> int:
        """A public reply: stored once, then told to the family on their own channel. Returns the comment's id."""
        comment = self.store.reply(ref, _words(body, "reply"), actor, public=True)
        ticket = self.store.get(ref)
        # Named by the comment, not by the time: publishing it twice is one event, told once.
        event = StatusEvent(backend=BACKEND, ticket_ref=str(ticket.id), status=TicketStatus(ticket.status),
                            public_comment=body, actor=actor, delivery_id=f"desk-comment-{comment}")  # fmt: skip
        publish_status_events(self.r, self.settings, [event])
        return comment

    def note(self, ref: str | int, body: str, actor: str) -> int:
        """An internal note: on the ticket for staff, never sent anywhere. Returns the comment's id."""
        return self.store.reply(ref, _words(body, "note"), actor, public=False)

    def set_status(self, ref: str | int, status: TicketStatus | str, actor: str,
                   comment: str | None = None) -> StatusEvent:  # fmt: skip
        """Change the status (the comment, if any, is public); the family is told on their channel."""
        event = BuiltinBackend(self.store).update_status(str(ref), TicketStatus(status), comment or None, actor)
        publish_status_events(self.r, self.settings, [event])
        return event

    @_announced
    def assign(self, ref: str | int, assignee: str | None, actor: str) -> Assignment:
        """Give the ticket to a person, or (None) back to its group's balancer; with no group, to nobody."""
        if assignee is not None and not assignee.strip():
            raise ValueError("name the person to assign, or assign to nobody")
        ticket = self.store.get(ref)
        conv = assigning.conversation_fields(self.r, ticket.conversation)
        group = assigning.group_for(self.rules(), conv, ticket.rule_ids)
        if assignee is not None and assignee == ticket.assignee:
            return Assignment(assignee, group.name if group else None)
        # Open tickets the gateway delivered are counted for their group; one it never saw (imported) is not.
        counts = ticket.status in OPEN_STATUSES and bool(conv) and group is not None
        assigning.release(self.r, ticket.conversation, conv)
        balanced = False
        if assignee is None and group is not None and ticket.status in OPEN_STATUSES:
            assignee = assigning.balance(self.r, group, ticket.assignee, counted=counts)
            balanced = assignee is not None
        counted = counts and assignee is not None and (balanced or assignee in (group.members if group else ()))
        if counted and not balanced and group is not None and assignee is not None:
            assigning.count_in(self.r, group, assignee)
        self.store.assign(ref, assignee, actor)
        if conv:
            assigning.record(self.r, ticket.conversation, assignee, group, counted)
        return Assignment(assignee, group.name if group else None, balanced)

    @_announced
    def update_fields(self, ref: str | int, actor: str, *, priority: str | None = None, category: str | None = None,
                      queue: str | None = None) -> Ticket:  # fmt: skip
        """Change the priority, category or queue (the department); None leaves a field as it is. An open ticket's
        response clocks move to the new priority's and queue's due times (clocks.py)."""
        given = {k: v for k, v in (("priority", priority), ("category", category), ("queue", queue)) if v is not None}
        if not given:
            raise ValueError("nothing to change: give a priority, a category or a queue")
        for field, value in given.items():
            self._check(field, value)
        before = self.store.get(ref)
        self.store.update_fields(ref, actor, **given)
        after = self.store.get(ref)
        clocks.move_clocks(self.r, self.store, self.rules(), before, after, actor)
        return self.store.get(ref)

    @_announced
    def merge(self, ref: str | int, into: str | int, actor: str) -> None:
        """Merge a ticket into another of the same family (gateway.tickets.MergeRefused says why not); the family's
        later messages in the merged ticket's thread go to the one it joined (merging.py)."""
        source, target = self.store.get(ref), self.store.get(into)
        merging.merge_conversations(self.r, BACKEND, source, target,
                                    lambda: self.store.merge(source.id, target.id, actor))  # fmt: skip

    @_announced
    def link_incident(self, ref: str | int, incident_id: str | None, actor: str) -> None:
        """Link the ticket to an incident (one that exists), or (None) unlink it; the family gets its updates, and
        is told once, after the link is committed, that their request is part of it (incidents.py)."""
        incident = None
        if incident_id is not None:
            incident_id = incident_id.strip().lstrip("#")
            incident = IncidentStore(self.r).get(incident_id)
            if incident is None:
                message = f"no incident {incident_id} (`intake incident list` shows them)"
                raise UnknownIncident("unknown_incident", message, incident=incident_id)
        ticket = self.store.get(ref)
        self.store.link_incident(ref, incident_id, actor)
        # The family joins the incident's updates (or leaves them), as a request the rules link does.
        told = incidents.relink(self.r, BuiltinBackend(self.store), ticket, incident)
        if told is not None and incident is not None:
            incidents.tell_linked(self.r, self.settings, ticket.conversation, incident.id, told)

    @_announced
    def log_time(self, ref: str | int, person: str, minutes: int, work_type: str, actor: str,
                 note: str | None = None) -> TimeEntry:  # fmt: skip
        """Record minutes spent on the ticket by a person, against one of the configured work types."""
        check("work type", work_type, tuple(self.settings.desk.work_types))
        if not person.strip():
            raise ValueError("name the person who spent the time")
        return self.store.log_time(ref, person, minutes, work_type, actor=actor, note=note or None)
