"""The Redmine backend: issues made and noted through Redmine's REST API, status back by polling.

Never twice: Redmine takes no idempotency key, so before making an issue we search for our request id in
its custom field, and before adding a note we look for the note's mark in the issue's journals. A worker
killed between Redmine's answer and our record finds the issue (or the note) on its retry.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar

from pydantic import BaseModel

from gateway.models import Commitment, StatusEvent, TicketStatus
from gateway.settings import Settings
from gateway.store.blob_stores import open_blobs
from gateway.store.blobs import BlobStore
from gateway.store.redis_conn import sync_client
from workers.backends.base import BaseBackend, StatusSource
from workers.backends.errors import BackendError, BackendRefused
from workers.backends.pacing import Pacer
from workers.backends.redmine import polling, text
from workers.backends.redmine.checks import problems
from workers.backends.redmine.client import NAME, Names, connect
from workers.backends.redmine.settings import RedmineSettings

log = logging.getLogger("intake.backends.redmine")


def _settings(settings: Settings) -> RedmineSettings:
    return RedmineSettings.model_validate(settings.backends.section(NAME) or {})


class RedmineBackend(BaseBackend):
    """Requests become Redmine issues; staff's status changes and public notes come back by polling."""

    name = NAME
    status_source: ClassVar[frozenset[StatusSource]] = frozenset({"polling"})
    settings_model: ClassVar[type[BaseModel] | None] = RedmineSettings

    def __init__(self, conf: RedmineSettings, blobs: BlobStore, pacer: Pacer | None, zone: tzinfo = UTC) -> None:
        self.conf = conf
        self.blobs = blobs
        self.zone = zone
        self.api = connect(conf, pacer)
        self.names = Names(self.api)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return _settings(settings).enabled()

    @classmethod
    def from_settings(cls, settings: Settings) -> RedmineBackend:
        conf = _settings(settings)
        pacer = Pacer(sync_client(settings), NAME, conf.requests_per_minute)
        return cls(conf, open_blobs(settings), pacer, settings.zone)

    # -- making issues and notes -------------------------------------------------------------------------

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        found = self.find(idempotency_key)
        if found is not None:
            log.info("redmine issue found for a retried request", extra={"request_id": idempotency_key,
                                                                        "ticket": found})  # fmt: skip
            return found
        m, route = commitment.message, commitment.route
        fmap = self.conf.map
        mapped = fmap.mapped(route, m)
        target = fmap.queue.get(route.queue) or fmap.default_queue or self.conf.project
        tracker = fmap.category.get(route.category or m.category or "") or self.conf.tracker
        uploads, refused = self._uploads(commitment)
        fields = [{"id": self.names.custom_field(self.conf.request_id_field, target), "value": idempotency_key}]
        if self.conf.requester_field:
            fields.append({"id": self.names.custom_field(self.conf.requester_field, target),
                           "value": text.requester(m)})  # fmt: skip
        fields += [{"id": self.names.custom_field(f, target), "value": v} for f, v in mapped.custom_fields.items()]
        issue: dict[str, Any] = {
            "project_id": target,
            "tracker_id": self.names.tracker(tracker),
            "subject": text.subject(m),
            "description": text.description(commitment, refused),
            "custom_fields": fields,
            "uploads": uploads,
        }
        if str(mapped.priority):
            issue["priority_id"] = self.names.priority(mapped.priority)
        if route.resolution_due is not None:
            issue["due_date"] = self._date(route.resolution_due)
        # To /issues.json, not python-redmine's /projects/<id>/issues.json: there an unknown project is a bare
        # 404, here it is Redmine's own validation message.
        try:
            made = self.api.engine.request("post", f"{self.conf.url}/issues.json", data={"issue": issue})
        except BackendRefused as exc:
            raise BackendRefused(NAME, f"issue in project {target!r} refused: {exc.message}") from None
        return str(made["issue"]["id"])

    def find(self, idempotency_key: str) -> str | None:
        """The issue already made for this key, in any project the API user sees, whatever its status."""
        field = self.names.custom_field(self.conf.request_id_field, self.conf.project)
        for issue in self.api.issue.filter(**{f"cf_{field}": idempotency_key}, status_id="*", limit=5):
            # Checked, not trusted: a field that is not "Used as a filter" is ignored by Redmine, which then
            # answers with every issue.
            if any(int(f.id) == field and getattr(f, "value", None) == idempotency_key for f in issue.custom_fields):
                return str(issue.id)
        return None

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        if self._noted(ref, idempotency_key):
            return f"{ref}:{idempotency_key}"
        uploads, refused = self._uploads(commitment)
        notes = text.note(commitment, idempotency_key, refused)
        self.api.issue.update(int(ref), notes=notes, private_notes=not public, uploads=uploads)
        return f"{ref}:{idempotency_key}"

    def _noted(self, ref: str, key: str) -> bool:
        issue = self._issue(ref, journals=True)
        return any(text.has_mark(getattr(j, "notes", None), key) for j in issue.journals)

    def _uploads(self, commitment: Commitment) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Each kept file uploaded (Redmine's upload tokens); a file Redmine refuses is named, not fatal."""
        uploads: list[dict[str, Any]] = []
        refused: dict[str, str] = {}
        for a in commitment.message.attachments:
            if not a.kept or not a.storage_key or a.source_url:
                continue  # not kept (named in the text), or still at the provider: its own note brings it
            try:
                data = self.blobs.get(a.storage_key)
                token = self.api.upload(io.BytesIO(data), filename=a.filename)["token"]
            except (BackendRefused, OSError) as exc:
                refused[a.filename] = exc.message if isinstance(exc, BackendError) else "the stored file is gone"
                continue
            uploads.append({"token": token, "filename": a.filename, "content_type": a.content_type})
        return uploads, refused

    def _issue(self, ref: str, *, journals: bool = False) -> Any:
        return self.api.issue.get(int(ref), include=["journals"] if journals else [])

    # -- incidents, statuses, clocks ---------------------------------------------------------------------

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        self.api.issue.update(int(child_ref), parent_issue_id=int(parent_ref))

    def fetch_status(self, ref: str) -> TicketStatus:
        return self._ours()(int(self._issue(ref).status.id))

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        if self._noted(ref, idempotency_key):
            return
        wanted = self.names.status(self.conf.statuses[status])
        # Without a comment the mark goes in a private note: Redmine keeps it apart from the public status change.
        self.api.issue.update(int(ref), status_id=wanted, notes=text.status_note(comment, idempotency_key),
                              private_notes=comment is None)  # fmt: skip
        now = int(self._issue(ref).status.id)
        if now != wanted:  # Redmine ignores a status its workflow does not allow this role, without an error
            raise BackendRefused(NAME, f"issue {ref}: Redmine kept status {now} instead of {wanted}: give the API "
                                       "user's role that transition (Administration » Workflow)")  # fmt: skip

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        if kind == "resolution":  # Redmine has one due date; the first-response clock stays ours
            self.api.issue.update(int(ref), due_date=self._date(due))

    def _date(self, at: datetime) -> str:
        return at.astimezone(self.zone).date().isoformat()  # the district's day, as staff read a due date

    def _ours(self) -> Callable[[int], TicketStatus]:
        ids = {ours: self.names.status(theirs) for ours, theirs in self.conf.statuses.items()}
        return polling.to_ours(ids, self.names.is_closed)

    # -- status back ------------------------------------------------------------------------------------

    def poll_changes(self, checkpoint: str) -> tuple[list[StatusEvent], str]:
        cp = polling.Checkpoint.load(checkpoint)
        field = f"cf_{self.names.custom_field(self.conf.request_id_field, self.conf.project)}"
        since = cp.since(self.conf.poll_overlap_s)
        if since is None:  # start now: from the newest change Redmine has, by its own clock
            newest = list(self.api.issue.filter(**{field: "*"}, status_id="*", sort="updated_on:desc", limit=1))
            cp.high = polling.aware(newest[0].updated_on) if newest else datetime.now(UTC)
            return [], cp.dump()
        me, ours = self.names.me(), self._ours()
        events: list[StatusEvent] = []
        seen: dict[int, polling.Seen] = {}
        high = cp.high or since
        # Sorted by id: an issue changed while we page moves no other issue back past our offset.
        changed = self.api.issue.filter(**{field: "*"}, updated_on=f">={polling.iso(since)}", status_id="*", sort="id")
        for issue in changed:
            updated = polling.aware(issue.updated_on)
            high = max(high, updated)
            before = cp.seen.get(int(issue.id))
            if before is not None and before.updated_on == polling.iso(updated):
                seen[int(issue.id)] = before
                continue
            journals = [_journal(j) for j in self._issue(str(issue.id), journals=True).journals]
            events += polling.events_of(
                str(issue.id), int(issue.status.id), journals, me=me, since=since,
                after_journal=before.last_journal if before else None, ours=ours,
            )  # fmt: skip
            last = max((j.id for j in journals), default=before.last_journal if before else 0)
            seen[int(issue.id)] = polling.Seen(polling.iso(updated), last)
        nxt = polling.Checkpoint(high=high, seen={**cp.seen, **seen})
        nxt.keep_within(self.conf.poll_overlap_s)
        return events, nxt.dump()

    # -- checks -----------------------------------------------------------------------------------------

    def check(self) -> list[str]:
        try:
            return problems(self.conf, self.api, self.names)
        except BackendError as exc:  # a failure between two checks: said, never raised
            return [f"backends.{NAME}: {exc.message}"]


def _journal(j: Any) -> polling.Journal:
    details = getattr(j, "details", [])
    change = next((d for d in details if d.get("property") == "attr" and d.get("name") == "status_id"), None)
    user = getattr(j, "user", None)
    return polling.Journal(
        id=int(j.id),
        user_id=int(user.id) if user is not None else 0,
        user_name=str(getattr(user, "name", "")) if user is not None else "",
        notes=str(getattr(j, "notes", None) or ""),
        private=bool(getattr(j, "private_notes", False)),
        created_on=polling.aware(j.created_on),
        new_status=int(change["new_value"]) if change and change.get("new_value") else None,
        old_status=int(change["old_value"]) if change and change.get("old_value") else None,
    )
