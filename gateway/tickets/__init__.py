"""The built-in ticket store: tickets, comments, files, status history, time entries, the audit log and staff
users, on SQLite or PostgreSQL, with migrations and full-text search. Everything a caller needs is here."""

from gateway.tickets.base import Refusal, UnknownTicket
from gateway.tickets.desk import MergeRefused
from gateway.tickets.engine import StoreUrlError, normalize_url
from gateway.tickets.query import DUES, GROUPABLE, SORTS, Due, Sort, TicketQuery
from gateway.tickets.records import (
    DONE_STATUSES,
    OPEN_STATUSES,
    ROLES,
    Attachment,
    AuditEntry,
    Comment,
    NewAttachment,
    NewComment,
    NewTicket,
    Page,
    StatusChange,
    Ticket,
    TicketDetails,
    TimeEntry,
    User,
)
from gateway.tickets.store import TicketStore, store_url
from gateway.tickets.users import UnknownUser, UserExists, UserRepository
from gateway.tickets.writes import Removed

__all__ = [
    "DONE_STATUSES",
    "DUES",
    "GROUPABLE",
    "OPEN_STATUSES",
    "ROLES",
    "SORTS",
    "Attachment",
    "AuditEntry",
    "Comment",
    "Due",
    "MergeRefused",
    "NewAttachment",
    "NewComment",
    "NewTicket",
    "Page",
    "Refusal",
    "Removed",
    "Sort",
    "StatusChange",
    "StoreUrlError",
    "Ticket",
    "TicketDetails",
    "TicketQuery",
    "TicketStore",
    "TimeEntry",
    "UnknownTicket",
    "UnknownUser",
    "User",
    "UserExists",
    "UserRepository",
    "normalize_url",
    "store_url",
]
