"""Sending a direct message as the district's X account: `POST /2/dm_conversations/with/:participant_id/messages`.

Authorized with OAuth 1.0a (the consumer key and secret, the account's access token and secret) or an
OAuth 2.0 user token. `channels.x.api_url` (X_API_URL) points the calls elsewhere (a stand-in in tests).
What X answers decides what happens: 201 is sent; 429 and 5xx (or no answer) are retried by the job's
backoff; 401 means our credentials are wrong (retried, then dead-lettered for `intake replay` once fixed);
any other refusal (403: the person does not take messages from the account) is final.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from channels.x.oauth import authorization
from channels.x.settings import XSettings

logging.getLogger("urllib3").setLevel(logging.WARNING)  # its DEBUG lines would name the person's X id

MAX_TEXT = 10_000


@dataclass
class XError(Exception):
    status: int
    retry: bool

    def __str__(self) -> str:
        return f"x api answered {self.status or 'nothing'}"


def send_dm(conf: XSettings, participant_id: str, body: str) -> str:
    """Send one direct message; the dm_event_id X gave it. Raises XError."""
    url = f"{conf.api_url.rstrip('/')}/2/dm_conversations/with/{participant_id}/messages"
    if conf.oauth1:
        auth = authorization("POST", url, consumer_key=conf.consumer_key,
                             consumer_secret=conf.consumer_secret.get_secret_value(),
                             token=conf.access_token.get_secret_value(),
                             token_secret=conf.access_token_secret.get_secret_value())  # fmt: skip
    else:
        auth = f"Bearer {conf.user_token.get_secret_value()}"
    text = body if len(body) <= MAX_TEXT else body[: MAX_TEXT - 1] + "…"
    try:
        resp = requests.post(url, json={"text": text}, headers={"Authorization": auth}, timeout=conf.api_timeout_s,
                             allow_redirects=False)  # fmt: skip
    except requests.RequestException:
        raise XError(0, retry=True) from None
    if resp.status_code in (200, 201):
        data = resp.json().get("data") or {}
        return str(data.get("dm_event_id", ""))
    raise XError(resp.status_code, retry=resp.status_code in (401, 429) or resp.status_code >= 500)
