"""Jobs a worker took off its queue and died holding, and the record that tells when there can be any.

rq takes a job off its queue (BLPOP) a moment before it enters it in the started registry. A worker SIGKILLed in
between (an out-of-memory kill, a deploy's kill after its grace period, a lost host) leaves the job in no list and
no registry, its status still `queued`: nothing would ever run it (the chaos bench lost one request in a thousand
that way). Finding such a job means reading every job's status and every queue, which against a backlog of
200,000 jobs cost a worker about 2 s of CPU and raised its RSS by 70 MB for good (the soak's drain).

So each worker writes itself into `keys.WORKERS_RUNNING` when it starts and takes itself out when it stops with
no job in hand (`GatewayWorker` tracks the moment from taking a job to starting it, and a SIGTERM in that moment
waits for the job to start). An entry that stays behind is a worker that died otherwise, and only then is the
search made: `recover_orphans`, at every worker's start and maintenance pass, reads the record (one round trip)
and searches only when it names a dead worker. A worker is dead when its rq key is gone (it stopped beating:
any host, within rq's worker TTL) or, on this host, when its process is.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.store.redis_conn import text
from workers.locks import pid_alive

SCAN_PAGE = 1000
_QUEUED = JobStatus.QUEUED.value.encode()


def running_entry() -> str:
    return f"{socket.gethostname()}|{os.getpid()}"


def dead_workers(connection: redis.Redis, own_name: str | None = None) -> list[str]:
    """The workers the record names that died without taking themselves out: their rq key gone, or on this host
    their process (or this very process, under another worker's name: a container restarted with the same pid)."""
    entries = {text(k): text(v) for k, v in connection.hgetall(keys.WORKERS_RUNNING).items()}
    entries.pop(own_name or "", None)
    if not entries:
        return []
    names = list(entries)
    with connection.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(Worker.redis_worker_namespace_prefix + name)
        alive = pipe.execute()
    here = socket.gethostname()

    def dead(name: str, beating: int) -> bool:
        host, _, pid = entries[name].partition("|")
        if not beating:
            return True
        return host == here and pid.isdigit() and (int(pid) == os.getpid() or not pid_alive(int(pid)))

    return [name for name, beating in zip(names, alive, strict=True) if dead(name, beating)]


def recover_orphans(connection: redis.Redis, qs: list[Queue], own_name: str | None = None) -> int:
    """Search for the jobs dead workers were holding, only when the record names one; then forget those workers
    (after the search, so a search cut short is made again). Returns how many jobs were put back."""
    dead = dead_workers(connection, own_name)
    if not dead:
        return 0
    found = requeue_orphans(connection, qs)
    connection.hdel(keys.WORKERS_RUNNING, *dead)
    return found


def _held(connection: redis.Redis, q: Queue) -> set[bytes]:
    """Every job id the queue or one of its registries holds: a job anywhere here is not lost."""
    held = {j if isinstance(j, bytes) else j.encode() for j in connection.lrange(q.key, 0, -1)}
    for registry_class in (StartedJobRegistry, ScheduledJobRegistry, DeferredJobRegistry):
        held.update(j.encode() for j in registry_class(queue=q).get_job_ids(cleanup=False))
    return held


def _pages(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    rest = iter(items)
    while page := list(itertools.islice(rest, size)):
        yield page


def requeue_orphans(connection: redis.Redis, qs: list[Queue]) -> int:
    """Put back on its queue every job whose status is `queued` but that no list or registry holds.

    A queue and its registries are read once, when the scan meets the queue's first queued job, and the jobs a
    page at a time; a queued job missing from that reading is a suspect (lost, or queued after the reading).
    After the scan the suspects' queues are read again, and a suspect still queued and still missing is put
    back. A job a live worker is just registering could be taken for lost and run twice: the jobs are
    idempotent. The memory held is the queues' ids and the suspects, not every job's."""
    by_name = {q.name: q for q in qs}
    held: dict[str, set[bytes]] = {}
    suspects: list[tuple[bytes, Queue]] = []
    for page in _pages(connection.scan_iter(match="rq:job:*", count=SCAN_PAGE), SCAN_PAGE):
        job_ids = [job_id for key in page if b":" not in (job_id := key.removeprefix(b"rq:job:"))]
        # One round trip per page, not per job: a worker starting behind a burst reads 10,000 jobs.
        with connection.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hmget(b"rq:job:" + job_id, ["status", "origin"])
            fields = pipe.execute()
        for job_id, (status, origin) in zip(job_ids, fields, strict=True):
            queue = by_name.get(text(origin or b""))
            if status != _QUEUED or queue is None:
                continue
            if queue.name not in held:
                held[queue.name] = _held(connection, queue)
            if job_id not in held[queue.name]:
                suspects.append((job_id, queue))
    held.clear()
    again = {queue.name: _held(connection, queue) for queue in {q.name: q for _, q in suspects}.values()}
    found = 0
    for job_id, queue in suspects:
        if job_id not in again[queue.name] and never_started(connection, text(job_id)):
            queue.enqueue_job(Job.fetch(text(job_id), connection=connection, serializer=JSONSerializer))
            found += 1
    return found


def never_started(connection: redis.Redis, job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) == JobStatus.QUEUED
