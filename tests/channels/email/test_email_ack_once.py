"""An acknowledgement is mailed at most once, even when its worker dies between the send and the job's end.

The chaos bench saw one sent twice: the relay took the mail, the worker was SIGKILLed before rq recorded the
job done, and rq ran it again. Here the SMTP server takes the acknowledgement (250 after DATA) and then holds
the sender's QUIT, so the real `intake worker` is SIGKILLed (its whole process group) with the mail gone out
and the job still running; a worker started after it recovers the job and runs it again.
"""

from __future__ import annotations

import mailbox
import os
import signal
from pathlib import Path

from tests.channels.email_support import mail, mail_config
from tests.support.dovecot import Dovecot
from tests.support.gateway import intake, start_worker
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import eventually

FAMILY = "ana.perez@example.org"


async def test_a_worker_killed_after_the_relay_took_the_acknowledgement_leaves_the_family_one_copy(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    config = mail_config(tmp_path, redis_server, dovecot, smtp_sink)
    archive = tmp_path / "one.mbox"
    box = mailbox.mbox(archive)
    box.add(mail(sender=f"Ana Pérez <{FAMILY}>"))
    box.close()
    assert "1 new" in intake(config, "import-mbox", str(archive)).stdout

    smtp_sink.hold_quits()
    worker = start_worker(config, tmp_path / "worker.log")
    try:
        # The ticket is made, its acknowledgement queued and mailed; the worker now waits on its QUIT.
        await eventually(lambda: smtp_sink.held_quits == 1, "the relay took the acknowledgement", timeout=120)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        smtp_sink.release_quits()
    assert [m.rcpt_tos for m in smtp_sink.messages] == [(FAMILY,)]

    rerun = intake(config, "worker", "--burst")  # recovers the killed worker's job and runs it again
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert [m.rcpt_tos for m in smtp_sink.messages] == [(FAMILY,)]
    assert "reply already sent" in rerun.stderr  # the job did run again, and found the mail sent
