"""Block Kit we send: the request modal opened by the slash command, and the blocks of a reply.

Each input block's block_id equals its action_id, which is what normalizers.slack.view_fields reads.
"""

from __future__ import annotations

from typing import Any

from gateway.settings import Choice
from normalizers.slack import MODAL_CALLBACK, STATUS_ACTION, URGENCIES

URGENCY_LABELS = {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent: people are waiting"}


def _text(value: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": value[:75]}


def _select(block: str, label: str, options: list[tuple[str, str]], initial: str | None = None) -> dict[str, Any]:
    opts = [{"text": _text(text), "value": value} for value, text in options]
    element: dict[str, Any] = {"type": "static_select", "action_id": block, "options": opts}
    chosen = next((o for o in opts if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return {"type": "input", "block_id": block, "label": _text(label), "element": element}


def _labels(choices: list[Choice], language: str) -> list[tuple[str, str]]:
    return [(c.id, c.label.get(language) or c.label.get("en") or c.id) for c in choices]


def request_modal(
    categories: list[Choice], schools: list[Choice], language: str, text: str, origin_channel: str
) -> dict[str, Any]:
    """The modal of `/helpdesk [text]`: what the text typed after the command starts the description with."""
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": origin_channel,
        "title": _text("Help desk"),
        "submit": _text("Send"),
        "close": _text("Cancel"),
        "blocks": [
            _select("category", "What is it about?", _labels(categories, language)),
            _select("school", "School", _labels(schools, language)),
            _select("urgency", "How urgent?", [(u, URGENCY_LABELS[u]) for u in URGENCIES], initial="normal"),
            {
                "type": "input",
                "block_id": "description",
                "label": _text("What is happening?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "description",
                    "multiline": True,
                    "initial_value": text[:3000],
                },
            },
            {
                "type": "input",
                "block_id": "attachments",
                "optional": True,
                "label": _text("Files"),
                "element": {"type": "file_input", "action_id": "attachments", "max_files": 5},
            },
        ],
    }


def reply_blocks(text: str, status_value: str | None, survey: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A reply's blocks; the acknowledgement carries a button that shows the live status, a survey its ratings."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "plain_text", "text": text[:3000]}}]
    if survey is not None:
        blocks.append(survey)
    if status_value:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "action_id": STATUS_ACTION, "text": _text("Status"), "value": status_value}
                ],
            }
        )
    return blocks
