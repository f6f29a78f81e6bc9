"""Who a ticket is given to, kept in step with the balancer's counts (workers/routing_stage.py).

The balancer counts each member's open tickets per group (`fewest_open` reads the counts) and a resolution gives
the count back. A ticket moved by hand moves its count with it: the one it was taken from is counted one less,
a member of the ticket's group it is given to one more. "Back to balancing" hands the ticket to the group's
balancer again, which picks someone other than the person giving it back whenever anyone else is available.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import redis

from gateway import keys
from gateway.routing.model import Group, RuleSet
from gateway.store.redis_conn import text
from workers.routing_stage import pick_assignee


@dataclass(frozen=True)
class Assignment:
    """Who has the ticket now, and how: `balanced` when the group's balancer chose them."""

    assignee: str | None
    group: str | None = None
    balanced: bool = False

    def describe(self) -> str:
        if self.balanced:
            return f"given back to balancing: {self.group} chose {self.assignee}"
        if self.assignee is None:
            return "unassigned (no balancing group" + (" with anyone available)" if self.group else " for it)")
        return f"assigned to {self.assignee}"


def conversation_fields(r: redis.Redis, conversation: str) -> dict[str, str]:
    return {text(k): text(v) for k, v in r.hgetall(keys.conversation(conversation)).items()}


def group_for(rules: RuleSet, conv: dict[str, str], rule_ids: tuple[str, ...]) -> Group | None:
    """The group that balanced the ticket, else the one its matched rules name (the last one that names a group)."""
    named = conv.get("assign_group")
    if named and named in rules.groups:
        return rules.groups[named]
    by_id = {rule.id: rule for rule in rules.rules}
    for rule_id in reversed(rule_ids):
        rule = by_id.get(rule_id)
        if rule is not None and rule.actions.assign:
            return rules.groups.get(rule.actions.assign)
    return None


def release(r: redis.Redis, conversation: str, conv: dict[str, str]) -> None:
    """Count the ticket off its assignee's open tickets (once: the flag is taken before the count moves)."""
    if conv.get("assign_group") and conv.get("assignee") and r.hdel(keys.conversation(conversation), "assignee_open"):
        r.hincrby(keys.assign_open(conv["assign_group"]), conv["assignee"], -1)


def balance(r: redis.Redis, group: Group, giving_back: str | None, *, counted: bool = True) -> str | None:
    """The member the group's balancer picks, not the one giving the ticket back unless no one else is there.

    Not `counted`: the ticket is no open ticket of the gateway's, so the pick's count is given back at once."""
    others = tuple(m for m in group.members if m != giving_back)
    away = {text(x) for x in r.smembers(keys.ASSIGN_AWAY)}
    chosen = pick_assignee(r, replace(group, members=others) if any(m not in away for m in others) else group)
    if chosen is not None and not counted:
        r.hincrby(keys.assign_open(group.name), chosen, -1)
    return chosen


def count_in(r: redis.Redis, group: Group, person: str) -> None:
    """A member given a ticket by hand has one more open ticket in the group, as if the balancer had chosen them."""
    r.hincrby(keys.assign_open(group.name), person, 1)


def record(r: redis.Redis, conversation: str, assignee: str | None, group: Group | None, counted: bool) -> None:
    """Write the new assignee on the conversation, counted for its group when `counted` (the count moved already)."""
    key = keys.conversation(conversation)
    with r.pipeline() as pipe:
        if assignee is None:
            pipe.hdel(key, "assignee", "assignee_open")
        elif counted and group is not None:
            pipe.hset(key, mapping={"assignee": assignee, "assign_group": group.name, "assignee_open": "1"})
        else:
            pipe.hset(key, "assignee", assignee)
            pipe.hdel(key, "assignee_open")
        pipe.execute()
