"""What `intake check-config` and `intake doctor` say about Redmine: each problem names what is wrong and the fix."""

from __future__ import annotations

import secrets
from typing import Any

from workers.backends.errors import BackendAuthFailed, BackendError
from workers.backends.redmine.client import Names, RedmineNotFound, project
from workers.backends.redmine.settings import RedmineSettings

WHERE = "backends.redmine"


def problems(conf: RedmineSettings, api: Any, names: Names) -> list[str]:
    """Empty when the key works and every project, tracker, status, priority and field the config names exists."""
    try:
        names.me()
    except BackendAuthFailed as exc:
        return [f"{WHERE}: api_key (REDMINE_API_KEY): {exc.message}"]
    except BackendError as exc:
        return [f"{WHERE}: url (REDMINE_URL): cannot reach Redmine at {conf.url}: {exc.message}"]
    found: list[str] = []
    fmap = conf.map
    projects = {conf.project: f"{WHERE}.project", fmap.default_queue: f"{WHERE}.map.default_queue"}
    projects.update({p: f"{WHERE}.map.queue.{ours}" for ours, p in fmap.queue.items()})
    trackers = [conf.tracker, *fmap.category.values()]
    for identifier, key in projects.items():
        if identifier:
            found += _project(api, identifier, key, trackers)
    found += _names(names.tracker, trackers, f"{WHERE}.tracker / map.category")
    found += _names(names.status, list(conf.statuses.values()), f"{WHERE}.statuses")
    found += _names(names.priority, list(fmap.priority.values()), f"{WHERE}.map.priority")
    fields = {f"{WHERE}.request_id_field": conf.request_id_field, f"{WHERE}.requester_field": conf.requester_field}
    fields.update({f"{WHERE}.map.custom_fields.{ours}": theirs for ours, theirs in fmap.custom_fields.items()})
    for key, ref in fields.items():
        if ref == "":
            continue
        try:
            names.custom_field(ref, conf.project)
        except BackendError as exc:
            found.append(f"{key}: {exc.message}; give the field's id (the number in its address under "
                         "Administration » Custom fields), or enable it on the project by name")  # fmt: skip
    if not found:
        found += _filterable(conf, api, names)
    return found


def _project(api: Any, identifier: str, key: str, trackers: list[str | int]) -> list[str]:
    try:
        p = project(api, identifier)
    except RedmineNotFound:
        return [f"{key}: no project {identifier!r} in Redmine, or the API user is not a member of it "
                "(use the project's identifier, as in its address)"]  # fmt: skip
    except BackendError as exc:
        return [f"{key}: project {identifier!r}: {exc.message}"]
    enabled = {str(t.name).casefold() for t in p.trackers} | {str(t.id) for t in p.trackers}
    return [
        f"{key}: tracker {t!r} is not enabled in project {identifier!r} (the project's Settings » Issue tracking)"
        for t in dict.fromkeys(trackers)
        if str(t).casefold() not in enabled
    ]


def _names(lookup: Any, refs: list[Any], key: str) -> list[str]:
    out: list[str] = []
    for ref in dict.fromkeys(refs):
        try:
            lookup(ref)
        except BackendError as exc:
            out.append(f"{key}: {exc.message}")
    return out


def _filterable(conf: RedmineSettings, api: Any, names: Names) -> list[str]:
    """A retry finds its issue only through the request id filter; Redmine ignores a filter on a field that is not
    "Used as a filter" and answers with every issue, so ask for an id nobody has and expect nothing."""
    field = names.custom_field(conf.request_id_field, conf.project)
    nobody = f"intake-check-{secrets.token_hex(8)}"
    try:
        hits = list(api.issue.filter(**{f"cf_{field}": nobody}, status_id="*", limit=1))
    except BackendError as exc:
        return [f"{WHERE}.request_id_field: searching by it failed: {exc.message}"]
    if hits:
        return [f"{WHERE}.request_id_field: Redmine ignores a search by custom field {field}: tick its "
                "'Used as a filter', or a retried request could make a second issue"]  # fmt: skip
    return []
