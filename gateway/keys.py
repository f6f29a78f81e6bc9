"""Every Redis key the gateway writes, in one place, so a reader can see the whole layout."""

from __future__ import annotations

PREFIX = "ig"


def dedupe(fingerprint: str) -> str:
    return f"{PREFIX}:dedupe:{fingerprint}"


def request(request_id: str) -> str:
    return f"{PREFIX}:req:{request_id}"


def conversation(conv_id: str) -> str:
    return f"{PREFIX}:conv:{conv_id}"


def timeline(conv_id: str) -> str:
    return f"{PREFIX}:conv:{conv_id}:timeline"


def ticket(backend: str, ref: str) -> str:
    """ticket ref in a backend -> conversation id."""
    return f"{PREFIX}:ticket:{backend}:{ref}"


def ticket_merged(backend: str, ref: str) -> str:
    """Set: the conversations of tickets merged into this one; they thread onto it and show its status."""
    return f"{PREFIX}:ticket:{backend}:{ref}:merged"


def pending_outbound(channel: str) -> str:
    """Replies for a channel whose sender is not running yet: kept, not dropped."""
    return f"{PREFIX}:outbound:pending:{channel}"


def deliveries(conv_id: str) -> str:
    return f"{PREFIX}:conv:{conv_id}:deliveries"


def reply_token(token: str) -> str:
    """Our reply token (plus-address / status reference) -> conversation."""
    return f"{PREFIX}:replytoken:{token.upper()}"


def message_id(mid: str) -> str:
    """Every Message-ID we received or sent -> conversation."""
    return f"{PREFIX}:msgid:{mid.lower()}"


def participants(conv_id: str) -> str:
    return f"{PREFIX}:conv:{conv_id}:participants"


def conversation_refs(conv_id: str) -> str:
    """The conversation's Message-IDs in order, for the References header of our replies."""
    return f"{PREFIX}:conv:{conv_id}:refs"


def mail_health(mailbox: str) -> str:
    """The poller's health record for a mailbox: last check, last message, login failures."""
    return f"{PREFIX}:mail:health:{mailbox}"


def mail_checkpoint(mailbox: str) -> str:
    """(UIDVALIDITY, last UID) of a mailbox's inbox."""
    return f"{PREFIX}:mail:checkpoint:{mailbox}"


def mail_lock(mailbox: str) -> str:
    """Held by the one poller that polls a mailbox."""
    return f"{PREFIX}:mail:lock:{mailbox}"


MAIL_QUARANTINE = f"{PREFIX}:mail:quarantine"
MAIL_UNDELIVERABLE = f"{PREFIX}:mail:undeliverable"


def provider_thread(channel: str, conversation_id: str, thread_ts: str) -> str:
    """A provider's thread (Slack: team:channel and the root message ts) -> the conversation it carries."""
    return f"{PREFIX}:thread:{channel}:{conversation_id}:{thread_ts}"


def slack_user(team: str, user: str) -> str:
    """The cached users.info profile of a Slack user (display name, email), with an expiry."""
    return f"{PREFIX}:slack:user:{team}:{user}"


def slack_pace(team: str, channel: str) -> str:
    """When the next chat.postMessage may go to a Slack channel (about one per second per channel)."""
    return f"{PREFIX}:slack:pace:{team}:{channel}"


def email_sent(delivery_key: str) -> str:
    """Set when the relay took a reply job's mail: a re-run of the job never mails twice."""
    return f"{PREFIX}:mail:sent:{delivery_key}"


def slack_posted(delivery_key: str) -> str:
    """The ts of the message a reply job posted: a retried job never posts twice."""
    return f"{PREFIX}:slack:posted:{delivery_key}"


# Routing rules, calendars and response clocks.
CALENDAR_CLOSURES = f"{PREFIX}:calendar:closures"  # hash: local date (YYYY-MM-DD) -> reason
ROUTED_RECENT = f"{PREFIX}:routing:recent"  # list, newest first: delivered commitments for `rules test --replay`
SLA_DUE = f"{PREFIX}:sla:due"  # sorted set: "<kind>|<queue>|<priority>|<conversation>" by due time (epoch s)
SLA_BREACHES = f"{PREFIX}:sla:breaches"  # hash: "<queue>|<priority>|<kind>" -> count
# hash: "<kind>|<conversation>" -> the "<queue>|<priority>|<kind>" its breach was counted in, while the clock has
# not stopped: a new priority or queue whose due time is still ahead withdraws that breach (SLA_WITHDRAWN).
SLA_BREACHED = f"{PREFIX}:sla:breached"
SLA_WITHDRAWN = f"{PREFIX}:sla:withdrawn"  # hash: "<queue>|<priority>|<kind>" -> breaches withdrawn (counts only rise)
ASSIGN_AWAY = f"{PREFIX}:assign:away"  # set of people marked away


def assign_cursor(group: str) -> str:
    """Round-robin position of an assignee group."""
    return f"{PREFIX}:assign:rr:{group}"


def assign_open(group: str) -> str:
    """Hash: member -> open tickets assigned to them through this group."""
    return f"{PREFIX}:assign:open:{group}"


# SMS and voice (Twilio). Phone numbers appear only as digests (gateway.sms_ledger.phone_digest).
SMS_OPTED_OUT = f"{PREFIX}:sms:optout"  # phone digest -> JSON of the opt-out in force (when, how, which number)
SMS_UNDELIVERABLE = f"{PREFIX}:sms:undeliverable"  # phone digest -> JSON of the permanent error that marked it


def sms_consent_log(digest: str) -> str:
    """Every consent change of one phone number, oldest first: when, how (keyword, carrier), which number."""
    return f"{PREFIX}:sms:consent:{digest}"


def sms_consent_applied(source: str) -> str:
    """Set once a consent event (a MessageSid, a status callback) has been written to the ledger."""
    return f"{PREFIX}:sms:consent:applied:{source}"


def sms_latest(account: str, digest: str) -> str:
    """The latest conversation of one sender on one district number: evidence 4 (sender continuity)."""
    return f"{PREFIX}:sms:latest:{account}:{digest}"


def sms_sender_conversations(digest: str) -> str:
    """Sorted set of a sender's SMS/voice conversations (score: when opened), for STATUS."""
    return f"{PREFIX}:sms:convs:{digest}"


def sms_message(sid: str) -> str:
    """An outbound text we sent: its conversation, recipient digest and delivery state (forward only)."""
    return f"{PREFIX}:sms:msg:{sid}"


def sms_send(delivery_key: str) -> str:
    """What happened to one send job: the attempt time, then the MessageSid once Twilio has the text."""
    return f"{PREFIX}:sms:send:{delivery_key}"


def sms_rate(number: str, second: int) -> str:
    """Sends from one district number in one second (the per-number rate limit)."""
    return f"{PREFIX}:sms:rate:{number}:{second}"


def voice_call(call_sid: str) -> str:
    """A voicemail call's caller and number, kept between the greeting and the recording."""
    return f"{PREFIX}:voice:call:{call_sid}"


# Social channels (Messenger, Instagram, WhatsApp, X). Senders appear only as digests.
def social_send(delivery_key: str) -> str:
    """What happened to one reply job on a social channel: how it went out (or why not), once."""
    return f"{PREFIX}:social:send:{delivery_key}"


def social_profile(channel: str, sender_digest: str) -> str:
    """A social sender's cached profile name (Messenger, Instagram), with an expiry."""
    return f"{PREFIX}:social:profile:{channel}:{sender_digest}"


def meta_message(message_id: str) -> str:
    """A WhatsApp message we sent: its conversation, the reply it carried and its delivery state (forward only)."""
    return f"{PREFIX}:meta:msg:{message_id}"


# Incidents (parent/child): gateway/incidents.py and gateway/surge.py.
INCIDENT_SEQ = f"{PREFIX}:incident:seq"
INCIDENTS = f"{PREFIX}:incidents"  # every incident id, scored by when it was opened or proposed
INCIDENTS_ACTIVE = f"{PREFIX}:incidents:active"  # open incidents that link matching requests
INCIDENTS_PROPOSED = f"{PREFIX}:incidents:proposed"
INCIDENT_FANOUTS_PENDING = f"{PREFIX}:incidents:fanout:pending"  # "<incident>:<seq>" not finished yet
INCIDENT_PROPOSALS_TOTAL = f"{PREFIX}:incidents:proposals:total"


def incident(incident_id: str) -> str:
    return f"{PREFIX}:incident:{incident_id}"


def incident_children(incident_id: str) -> str:
    """Linked conversations in link order: a fan-out walks them by index, so a resumed one skips nobody."""
    return f"{PREFIX}:incident:{incident_id}:children"


def incident_child_set(incident_id: str) -> str:
    """The same conversations as a set, so a conversation is linked once."""
    return f"{PREFIX}:incident:{incident_id}:childset"


def incident_updates(incident_id: str) -> str:
    return f"{PREFIX}:incident:{incident_id}:updates"


def incident_fanout(incident_id: str, seq: int) -> str:
    """Progress of one update's fan-out: how many children are done, of how many."""
    return f"{PREFIX}:incident:{incident_id}:fanout:{seq}"


def incident_candidates(incident_id: str) -> str:
    """A proposal's requests (conversations) that made the surge; linked when an operator confirms it."""
    return f"{PREFIX}:incident:{incident_id}:candidates"


def incident_event(incident_id: str, event_id: str) -> str:
    """A backend status event already recorded as an update of this incident."""
    return f"{PREFIX}:incident:{incident_id}:event:{event_id}"


def incident_by_ticket(backend: str, ref: str) -> str:
    """An incident's parent ticket -> the incident."""
    return f"{PREFIX}:incident:byticket:{backend}:{ref}"


# Hash: every running rq worker's name -> "host|pid", written at its start and taken out when it stops with no job
# in hand; an entry left behind is a worker that died holding one (workers/recovery/orphans.py).
WORKERS_RUNNING = f"{PREFIX}:workers:running"


def conversation_lock(conv_id: str) -> str:
    """Held while a conversation is written to (the same lock workers.jobs.deliver takes)."""
    return f"{PREFIX}:lock:conv:{conv_id}"


def surge_window(signature: str) -> str:
    """Recent requests sharing a surge signature (school + keyword, or school + category), scored by time."""
    return f"{PREFIX}:surge:{signature}"


def surge_proposed(signature: str) -> str:
    """Held while a proposal for this signature is fresh, so one surge makes one proposal."""
    return f"{PREFIX}:surge:proposed:{signature}"


# Ticket backends: pacing shared by every worker (workers/backends/pacing.py).
def backend_bucket(backend: str) -> str:
    return f"{PREFIX}:backend:{backend}:bucket"


def backend_circuit(backend: str) -> str:
    """A ticket system found out of order (down, rate-limiting us, refusing our credentials): kind, since, until."""
    return f"{PREFIX}:backend:{backend}:circuit"


def backend_probe(backend: str) -> str:
    """Held by the one job that tries an out-of-order system again, so the others wait for its answer."""
    return f"{PREFIX}:backend:{backend}:probe"


def backend_attempt(backend: str, request_id: str) -> str:
    """When we last asked a system to create the ticket for a request: a retry looks harder for what that made."""
    return f"{PREFIX}:backend:{backend}:attempt:{request_id}"


def backend_allowance(backend: str) -> str:
    """The call allowance a system reports for the account (Freshdesk's X-RateLimit-Total), as last seen."""
    return f"{PREFIX}:backend:{backend}:allowance"


def backend_contacts(backend: str) -> str:
    """Hash: a phone number -> the id of the contact made for it in a system that cannot find people by phone."""
    return f"{PREFIX}:backend:{backend}:contacts"


def status_events(conv_id: str) -> str:
    """Hash: a status event's id -> what it told the family (a status change, an answer, nothing): decided once."""
    return f"{PREFIX}:conv:{conv_id}:status_events"


# Status sync (`intake sync`): one poller per polling ticket system across every instance.
def sync_checkpoint(backend: str) -> str:
    """Where the last poll of a system stopped: its own cursor (a time, a journal id), as the backend wrote it."""
    return f"{PREFIX}:sync:{backend}:checkpoint"


def sync_lock(backend: str) -> str:
    return f"{PREFIX}:sync:{backend}:lock"


def sync_health(backend: str) -> str:
    """The poller's record of a system: last good poll, last error, failures in a row."""
    return f"{PREFIX}:sync:{backend}:health"


def rate_limit(kind: str, digest: str) -> str:
    """A rate limit bucket (gateway/store/rate_limit.py): soft state, never written to the AOF."""
    return f"{PREFIX}:limit:{kind}:{digest}"


# The dashboard (gateway/dashboard/): what arrived, counted by the commit, and the notices of change every web
# process listens to. Counts are hashes of "<channel>|<queue>" -> requests committed.
DASH_CHANGES = f"{PREFIX}:dash:changes"  # pub/sub channel: a topic (incoming, tickets, sla, incidents) per message
INCOMING_MINUTE_TTL_S = 2 * 3600
INCOMING_DAY_TTL_S = 3 * 86400


def incoming_minute(minute: int) -> str:
    """Requests committed in one minute (epoch seconds // 60), by when they were received."""
    return f"{PREFIX}:dash:in:m:{minute}"


def incoming_day(day: str) -> str:
    """Requests committed on one day of the district's calendar (YYYY-MM-DD, its time zone)."""
    return f"{PREFIX}:dash:in:d:{day}"


def staff_session(digest: str) -> str:
    """A staff session, by the hash of its cookie's value (the value itself is never stored)."""
    return f"{PREFIX}:staff:session:{digest}"


def staff_sessions_of(user_digest: str) -> str:
    """Set: a staff user's live sessions, so a disabled account or a changed role ends them at once."""
    return f"{PREFIX}:staff:user:{user_digest}:sessions"


def signin_failures(kind: str, digest: str) -> str:
    """Hash: failed sign-ins and lock of one account or one client (`kind`), by a keyed hash of its name."""
    return f"{PREFIX}:staff:signin:{kind}:{digest}"


# Satisfaction surveys (gateway/surveys/): one record per conversation, written once, answered once.
SURVEYS_SENT = f"{PREFIX}:survey:sent"  # sorted set: conversation by when its survey went out (epoch s)
SURVEYS_ANSWERED = f"{PREFIX}:survey:answered"  # sorted set: conversation by when its survey was answered


def survey(conv_id: str) -> str:
    """Hash: a conversation's survey (state, what it is about, where it went, the rating and comment)."""
    return f"{PREFIX}:survey:conv:{conv_id}"


def survey_by_phone(digest: str, account: str) -> str:
    """The conversation whose survey a phone (by digest) may answer by text on a district number, while it is open."""
    return f"{PREFIX}:survey:sms:{digest}:{account}"
