"""A killed worker's jobs and scheduler locks, recovered without waiting for them to expire.

rq notices an abandoned job only when its started-registry entry expires, a minute or more after the worker
vanished, and a killed worker's scheduler keeps its locks 61 s. A worker killed on this host is provably dead the
moment its pid is gone, so at start (and on every maintenance pass) its entries are expired at once and rq's own
cleanup retries the job or moves it to the failed registry (our dead-letter list), and its scheduler's locks are
released. The jobs it was holding but had not started are found by `orphans.recover_orphans`.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable

import redis
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.scripts import release_lock
from rq.serializers import JSONSerializer

from gateway.store.redis_conn import text
from workers.locks import pid_alive
from workers.queues import spare_tries_when_abandoned
from workers.recovery.orphans import never_started, recover_orphans

log = logging.getLogger("intake.worker")


def reap_dead_local_workers(connection: redis.Redis, qs: list[Queue], own_name: str | None = None) -> int:
    """Expire started-registry entries whose worker, on this host, no longer exists, and put back the jobs dead
    workers were holding (`own_name`: the worker asking, once it is running). Returns how many."""
    host = socket.gethostname()
    reaped = 0
    for q in qs:
        registry = StartedJobRegistry(queue=q)
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
            try:
                execution = Execution.fetch(execution_id, job_id, connection)
            except ValueError:
                # Its record is gone (another worker's cleanup got there first, or it expired): the entry's
                # own expiry, and rq's cleanup after it, decide about the job. Raising here would stop the worker.
                continue
            worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + execution.worker_name, connection)
            dead = worker is None or (worker.hostname == host and worker.pid is not None and not pid_alive(worker.pid))
            if dead and never_started(connection, job_id):
                # Killed between claiming the job and its work horse starting it: rq's cleanup skips a job
                # that is not STARTED and drops its entry, which would lose it. It never ran: queue it again.
                connection.zrem(registry.key, f"{job_id}:{execution_id}")
                q.enqueue_job(Job.fetch(job_id, connection=connection, serializer=JSONSerializer))
                reaped += 1
            elif dead:
                connection.zadd(registry.key, {f"{job_id}:{execution_id}": 0})
                reaped += 1
        if reaped:
            registry.cleanup(exception_handlers=[spare_tries_when_abandoned])
    reaped += recover_orphans(connection, qs, own_name)
    if reaped:
        log.warning("recovered jobs from killed workers", extra={"count": reaped})
    return reaped


def _dead_here(connection: redis.Redis, scheduler_name: str) -> bool:
    hostname, pid = (
        text(v or "") for v in connection.hmget(SCHEDULER_KEY_TEMPLATE % scheduler_name, ["hostname", "pid"])
    )
    return hostname == socket.gethostname() and pid.isdigit() and int(pid) > 0 and not pid_alive(int(pid))


def free_dead_local_schedulers_locks(connection: redis.Redis, queue_names: Iterable[str]) -> int:
    """rq's scheduler lock on a queue lives 61 s past its holder's last renewal: a scheduler killed with its worker
    (SIGKILL, the OOM killer) holds every retry up that long. A holder on this host whose process is gone is
    provably dead, as in reap_dead_local_workers: its locks are released at once (only while it still holds them)."""
    lock_keys = [RQScheduler.get_locking_key(name) for name in queue_names]
    holders = {key: text(h) for key, h in zip(lock_keys, connection.mget(lock_keys), strict=True) if h is not None}
    dead = {h for h in set(holders.values()) if _dead_here(connection, h)}  # one holder for every queue, as a rule
    freed = sum(release_lock(connection, key, holder) for key, holder in holders.items() if holder in dead)
    if freed:
        log.warning("released the scheduler locks of a killed worker", extra={"count": freed})
    return freed
