"""Routing cost on the request path: microseconds per message for the shipped rules and for a large rule set.

Prints one JSON line. Pure CPU (no I/O: routing never does any), so it needs no server:
    .venv/bin/python bench/routing_rules.py [--messages 5000] [--rules 200]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from gateway.models import InboundMessage, Requester
from gateway.routing.router import Router
from gateway.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
TEXTS = [
    "My daughter's Chromebook won't connect to the wifi at Lincoln, and she is locked out of her account.",
    "Mi hija no puede entrar, la contraseña no funciona en la computadora de la escuela.",
    "Con tôi không đăng nhập được, mật khẩu không đúng.",
    "The 7:10 bus to Washington did not come this morning, we waited 30 minutes at the corner.",
]


def messages(n: int) -> list[InboundMessage]:
    return [
        InboundMessage(
            id=str(i),
            channel="webform" if i % 2 else "sms",
            account="district-web",
            sender=f"+1555000{i:04d}",
            subject="Help",
            text=TEXTS[i % len(TEXTS)],
            category="devices",
            requester=Requester(campus="lhs"),
        )
        for i in range(n)
    ]


def large_rules(directory: Path, count: int) -> Path:
    lines = ["rules:"]
    for i in range(count):
        # Rules that do not match: every message is tried against all of them, the worst case.
        lines += [
            f"  - id: r{i}",
            f"    when: {{keywords: [word{i}, 'phrase number {i}'], text_regex: 'ticket\\s*#{i}\\b'}}",
            f"    then: {{queue: q{i}}}",
        ]
    path = directory / "rules.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def per_message_us(router: Router, batch: list[InboundMessage], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for m in batch:
            router.route(m)
        best = min(best, (time.perf_counter() - started) / len(batch))
    return round(best * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rules", type=int, default=200)
    args = parser.parse_args()
    batch = messages(args.messages)
    shipped = Router(load_settings(REPO / "config" / "gateway.yaml", env={}))
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "gateway.yaml"
        config.write_text(f"routing:\n  rules_file: {large_rules(Path(tmp), args.rules)}\n")
        large = Router(load_settings(config, env={}))
        result = {
            "bench": "routing_rules",
            "messages": args.messages,
            "shipped_rules": len(shipped.rules.rules),
            "shipped_us_per_message": per_message_us(shipped, batch),
            "large_rules": args.rules,
            "large_us_per_message": per_message_us(large, batch),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
