"""Running rq workers on the gateway's queues.

At start and on every maintenance pass a worker recovers what killed workers left (workers/recovery/), and puts
parked replies that it can send back on the queue (workers/parked.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import redis
from redis.client import Pipeline
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError, StopRequested
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker import WorkerStatus

from gateway import keys
from gateway.settings import Settings
from workers import context
from workers.backends import BACKENDS
from workers.backends.errors import BackendError, BackendRefused
from workers.parked import release_parked
from workers.queues import EVENTS_QUEUE, REPLIES_QUEUE, GatewayJob, deliver_queue_name, spare_tries_when_abandoned
from workers.recovery.orphans import running_entry
from workers.recovery.reaping import free_dead_local_schedulers_locks, reap_dead_local_workers
from workers.retention import sweep_if_due

log = logging.getLogger("intake.worker")
HEARTBEAT_EVERY_S = 5.0
SCHEDULER_CHECK_S = 1.0
SUSPENSION_CHECK_S = 1.0
IDLE_AFTER_S = 0.5
DEQUEUE_WAIT_S = 1
# rq's first maintenance pass comes right after run_worker's reaping: its second look at every job is skipped.
REAPED_RECENTLY_S = 5.0


def queue_names(settings: Settings, first: Sequence[str] = ()) -> list[str]:
    """The queues in the order a worker takes them: deliveries, then events, then replies; `first` (queue names)
    before the rest, for a worker that keeps replies going while deliveries never run out."""
    names = [*(deliver_queue_name(b) for b in BACKENDS), EVENTS_QUEUE, REPLIES_QUEUE]
    unknown = [n for n in first if n not in names]
    if unknown:
        raise ValueError(f"unknown queue {unknown[0]!r}; expected one of: {', '.join(names)}")
    return [*dict.fromkeys(first), *(n for n in names if n not in first)]


def queues(connection: redis.Redis, settings: Settings, first: Sequence[str] = ()) -> list[Queue]:
    return [
        Queue(n, connection=connection, serializer=JSONSerializer, job_class=GatewayJob)
        for n in queue_names(settings, first)
    ]


class GatewayWorker(SimpleWorker):
    """An rq worker that runs jobs in its own process and recovers jobs from killed local workers.

    rq's default Worker forks a child per job; a job here is a few Redis round trips and one ticket
    write, so the fork cost most of each job (a burst of web form requests went from 2.4 to 6.7 per
    second per worker without it). Jobs are idempotent and build their clients once per process
    (workers/context.py) and keep what they load (the language models take a second) for the next job; a
    job that hangs is still stopped by rq's timeout (SIGALRM, main thread), and a
    killed worker's job is found by `reap_dead_local_workers`. Scale out by running more workers.
    """

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        """A ticket system's error: logged by kind and system only, never with its words (they may quote a
        requester); a refusal (a 4xx that says what is wrong) is dead-lettered now, since retrying cannot help.

        rq calls this before it decides about a retry. The full message stays in the failed job's result,
        where `intake doctor` and `intake replay` show it, masked.
        """
        exc = exc_info[1] if len(exc_info) > 1 else None
        if not isinstance(exc, BackendError):
            super().handle_exception(job, *exc_info)
            return
        refused = isinstance(exc, BackendRefused)
        if refused:
            job.retries_left = 0
        log.warning("ticket system call failed" + (": dead-lettered" if refused else ""),
                    extra={"backend": exc.backend, "error": type(exc).__name__, "job": job.id})  # fmt: skip

    told_to_stop = False
    beaten_at: float | None = None

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """rq beats before and after every dequeue, three writes each time, and once more inside every suspension
        check, so at `appendfsync always` nine fsynced writes of every job went to telling Redis the worker was
        alive. The worker's key lives worker_ttl + 60 s (480 by default): from the dequeue loop and the suspension
        check, one beat every HEARTBEAT_EVERY_S is as good as one per job. Beats with a timeout of their own (a
        job's start) and those in rq's job pipelines are all still sent."""
        if timeout is None and (pipeline is None or self.checking_suspension):
            if pipeline is None and self.taking and self.told_to_stop:
                # The top of rq's wait for a job, between two waits: nothing in hand, so the deferred stop is raised.
                self.stop_if_told()
            if pipeline is None:
                # rq's dequeue loop beats before every wait (DEQUEUE_WAIT_S): an idle worker's one regular step.
                self.restart_dead_scheduler()
                self.write_idle_if_due()
            if self.beaten_at is not None and time.monotonic() - self.beaten_at < HEARTBEAT_EVERY_S:
                return
            self.beaten_at = time.monotonic()
        super().heartbeat(timeout, pipeline)

    idle_since: float | None = None

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """rq writes `idle` after every job and before the next dequeue, a round trip each. Nothing in the gateway
        reads it (`rq info` shows it): it goes to Redis once the worker has waited IDLE_AFTER_S for a job. The worker's
        own state changes at once: rq's SIGTERM handler stops an idle worker at once, but lets a busy one finish."""
        if pipeline is None and state == WorkerStatus.IDLE:
            if self.get_state() != WorkerStatus.IDLE:
                self._state = state
                self.idle_since = time.monotonic()
            return
        self.idle_since = None
        super().set_state(state, pipeline)

    def write_idle_if_due(self, now: bool = False) -> None:
        if self.idle_since is not None and (now or time.monotonic() - self.idle_since >= IDLE_AFTER_S):
            self.idle_since = None
            super().set_state(WorkerStatus.IDLE)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """rq's, with `idle` written at once after a job that failed: a Redis lost in the middle of a job then ends
        the loop there (WorkerQuit), where rq's wait for the next job would retry its connection for ever."""
        super().execute_job(job, queue)
        if job.get_status(refresh=False) != JobStatus.FINISHED:
            self.write_idle_if_due(now=True)

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        """rq stamps a finished job's `last_heartbeat` with a write of its own, for the success or failure callback
        that follows (the gateway has none). The stamp now goes with the job's record, which rq's success and
        failure pipelines write right after: one round trip less per job, the same fields in Redis."""
        job.ended_at = now()
        job.last_heartbeat = job.ended_at

    @property
    def dequeue_timeout(self) -> int:
        """rq waits for a job in one BLPOP of worker_ttl - 15 s (405 s). Idle that long, a worker whose scheduler
        had died would start it again only at the end of the wait. And rq sets the long socket timeout that such a
        wait needs (415 s) on its connection pool's settings, which a Redis that stops answering then hangs on."""
        return DEQUEUE_WAIT_S

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """rq's SIGTERM handler raises StopRequested wherever the worker stands; inside a step that catches every
        Exception (a parked reply that cannot go is logged and left) it would be swallowed and the stop lost,
        with rq's second-signal handler already in place. So the request is also written down here."""
        self.told_to_stop = True
        try:
            super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
        except StopRequested:
            if not self.taking:
                raise
            # Waiting for a job (at most DEQUEUE_WAIT_S), or holding one not yet started: raised there, the stop
            # would leave a job taken off its queue in no list. The job starts and the stop comes after it, or the
            # wait ends and the stop comes at the next one's top (heartbeat).

    def stop_if_told(self) -> None:
        """Raised only where the worker holds no job it has not started (between jobs, and between waits)."""
        if self.told_to_stop:
            self.taking = False
            raise StopRequested()

    # From taking a job off a queue until it is entered as started: a worker that stopped then would leave the job
    # in no list and no registry (workers/recovery/orphans.py). Set for the whole wait: rq's BLPOP may return one.
    taking = False

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        self.taking = True
        result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        if result is None:
            self.taking = False
        return result

    def prepare_execution(self, job: Job) -> Execution:
        execution = super().prepare_execution(job)
        self.taking = False  # started: a worker that dies now leaves it in the started registry (reaping.py)
        return execution

    def register_birth(self) -> None:
        super().register_birth()  # type: ignore[no-untyped-call]
        self.connection.hset(keys.WORKERS_RUNNING, self.name, running_entry())

    def register_death(self) -> None:
        """Out of the record of running workers, unless the worker stops holding a job it had not started (an error
        in that moment): the entry left has the next worker's maintenance search for the job."""
        if not self.taking:
            self.connection.hdel(keys.WORKERS_RUNNING, self.name)
        super().register_death()  # type: ignore[no-untyped-call]

    checking_suspension = False
    suspension_checked: float | None = None

    def check_for_suspension(self, burst: bool) -> None:
        """rq asks Redis before every job whether `rq suspend` was run (the gateway never runs it), in a pipeline
        that also beats: asked at most once every SUSPENSION_CHECK_S, and the beat left to HEARTBEAT_EVERY_S."""
        self.stop_if_told()
        self.restart_dead_scheduler()
        if self.suspension_checked is not None and time.monotonic() - self.suspension_checked < SUSPENSION_CHECK_S:
            return
        self.suspension_checked = time.monotonic()
        self.checking_suspension = True
        try:
            super().check_for_suspension(burst)
        finally:
            self.checking_suspension = False

    _scheduler_checked = 0.0
    in_burst = False

    def _start_scheduler(self, burst: bool = False, *args: Any, **kwargs: Any) -> None:
        self.in_burst = burst
        super()._start_scheduler(burst, *args, **kwargs)

    def restart_dead_scheduler(self) -> None:
        """rq's scheduler (a child process that enqueues the retries due) dies when Redis goes away under it, and
        rq starts it again only at its maintenance, every ten minutes: until then every retry waits. A worker
        started while a killed worker's scheduler still held the lock is in the same place. Checked at most once a
        second, from the worker's loop (between jobs, and between its waits for one)."""
        scheduler = self.scheduler
        # A burst worker's rq enqueues the jobs due once, at its start, and runs no scheduler process: starting one
        # here cost every `intake worker --burst` about a second, waiting for it to stop again.
        if scheduler is None or self.in_burst or time.monotonic() - self._scheduler_checked < SCHEDULER_CHECK_S:
            return
        if self.told_to_stop or self._stop_requested:
            return  # rq stopped it on the SIGTERM, and a worker finishing its job must not start it again
        self._scheduler_checked = time.monotonic()
        process = scheduler._process
        if process is None or not process.is_alive():
            try:
                free_dead_local_schedulers_locks(self.connection, scheduler._queue_names)
                scheduler.acquire_locks(auto_start=True)  # type: ignore[no-untyped-call]
            except redis.RedisError as exc:  # still away: the next check tries again
                log.warning("rq scheduler not restarted", extra={"error": type(exc).__name__})

    reaped_at: float | None = None  # run_worker reaps just before rq's first maintenance pass

    def run_maintenance_tasks(self) -> None:
        if self.reaped_at is None or time.monotonic() - self.reaped_at > REAPED_RECENTLY_S:
            reap_dead_local_workers(self.connection, self.queues, self.name)
        self.stop_if_told()
        forgotten = sweep_if_due(self.connection, context.settings())
        if forgotten is not None and forgotten.conversations:
            log.info("retention sweep", extra=forgotten.summary())
        self.stop_if_told()
        release_here(self.connection)
        self.stop_if_told()
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]

    # rq listens on a pub/sub channel for its remote commands (stop a job, kill a work horse), which the gateway
    # never sends. Not listening saves a thread and a connection per worker, and an exit that hung: with
    # redis-py 8.2, PubSubWorkerThread.stop() joins the thread, and a thread that had already read its own
    # unsubscribe waits out get_message's 60 s for a subscription that never comes (seen as `intake worker
    # --burst` taking 60 s at random, and a worker's SIGTERM taking as long).
    def subscribe(self) -> None:
        return None

    def unsubscribe(self) -> None:
        return None


def release_here(connection: redis.Redis) -> None:
    """Parked replies this worker's channels can send go back on the queue (rq runs its maintenance when a
    worker starts and every 10 minutes). A failure here is logged and waits for the next pass."""
    try:
        release_parked(connection, context.channels(), context.services())
    except Exception as exc:
        log.warning("parked replies not released", extra={"error": type(exc).__name__})


class WorkerQuit(RuntimeError):
    """A worker that was not told to stop stopped: rq's loop ends by itself only after an error it did not handle,
    above all a Redis connection lost in the middle of a job (a failover). rq then logs and returns as if all were
    well; the process exits non-zero instead, so that its supervisor (systemd's Restart=on-failure) starts a new one,
    which finds the new primary and recovers the interrupted job (reap_dead_local_workers)."""


def run_worker(connection: redis.Redis, settings: Settings, burst: bool = False, first: Sequence[str] = ()) -> bool:
    qs = queues(connection, settings, first)
    # Made first: rq sets the socket timeout its waits need on the pool's settings, which reach only the
    # connections made after it (one made by the reaping below would time out every wait).
    worker = GatewayWorker(qs, connection=connection, serializer=JSONSerializer, job_class=GatewayJob)
    worker.push_exc_handler(spare_tries_when_abandoned)  # type: ignore[no-untyped-call]  # rq's cleanup's too
    reap_dead_local_workers(connection, qs)
    worker.reaped_at = time.monotonic()
    free_dead_local_schedulers_locks(connection, [q.name for q in qs])
    try:
        worked = bool(worker.work(burst=burst, with_scheduler=True, logging_level=settings.logging.level))
    except redis.RedisError as exc:  # rq's own teardown (registering the worker's death) found no Redis either
        raise WorkerQuit(f"the worker stopped on a Redis error: {type(exc).__name__}") from exc
    if not burst and not worker.told_to_stop:
        raise WorkerQuit("the worker stopped on an error it could not recover from (see the log above)")
    return worked


def dead_letters(connection: redis.Redis, settings: Settings) -> list[tuple[str, str]]:
    """(queue, job id) for every job that ran out of tries."""
    out: list[tuple[str, str]] = []
    for q in queues(connection, settings):
        out.extend((q.name, jid) for jid in FailedJobRegistry(queue=q).get_job_ids())
    return out


def failure_reason(connection: redis.Redis, job_id: str) -> str:
    """The last line of a dead-lettered job's error, e.g. `BackendRefused: rt: ticket.create: 422 no queue 'X'`."""
    try:
        result: Any = Job.fetch(job_id, connection=connection, serializer=JSONSerializer).latest_result()
    except NoSuchJobError:
        return "(the job is gone)"
    lines = [line for line in str(getattr(result, "exc_string", "") or "").splitlines() if line.strip()]
    if not lines:
        return "(no error recorded)"
    head, sep, tail = lines[-1].strip().partition(": ")
    return f"{head.rsplit('.', 1)[-1]}{sep}{tail}"[:400]


def replay(connection: redis.Redis, settings: Settings) -> list[tuple[str, str, str]]:
    """Put every dead-lettered job back on its queue; (queue, job id, why it had failed) for each.

    Jobs are idempotent, so replay never doubles.
    """
    out = []
    for q in queues(connection, settings):
        registry = FailedJobRegistry(queue=q)
        for jid in registry.get_job_ids():
            reason = failure_reason(connection, jid)
            registry.requeue(jid)
            out.append((q.name, jid, reason))
    return out
