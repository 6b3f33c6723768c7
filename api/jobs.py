"""Background jobs: a registry of job kinds, worker processes, and who-owns-what bookkeeping.

A job is submitted by the API (validated, stored as ``queued`` with the id of the server
instance that accepted it), then run in a worker PROCESS (``ProcessPoolExecutor``, spawn
context) so the API keeps answering. The worker moves it to ``running``, records progress
(stage, fraction) in the metadata store, and finishes it ``done`` or ``failed``. Every
status change is conditional (``WHERE status IN (...)``), so a job marked ``interrupted``
is never flipped back by a late worker.

Restarts: each server registers an *instance* (host, pid, heartbeat). At startup, and on
every heartbeat, jobs still ``queued``/``running`` whose instance is gone (stopped, its
process dead on this host, or silent for ``stale_after_s``) are marked ``interrupted``.
A job is never reported as running forever. Workers whose server died stop at their next
progress report.

Shared queue (a storage with ``claims_jobs``, PostGIS): a submitted job belongs to no server;
every server's job loop claims queued jobs for its free workers (``Storage.claim_job``,
``FOR UPDATE SKIP LOCKED``), so any live server runs queued work. A running job whose server
is gone, or whose heartbeat (``Storage.touch_jobs``, progress reports) is older than
``stale_after_s``, is queued again ``job_retries`` times, then marked ``interrupted``
(``Storage.reap_jobs``); a worker writes only for the attempt it runs.

EXTENSION POINT — job kinds. :data:`JOB_KINDS` maps a kind name to a :class:`JobKind`;
the modules in :data:`JOB_KIND_MODULES` register theirs on import (``api.analyses``
registers ``"analysis"``, ``api.scenarios`` ``"scenario"``). :func:`load_job_kinds` imports
them all: a module that is missing, fails to import or registers no kind stops the server
at startup; none is skipped.
A kind gives the function that runs in the worker, the function that finds its stored
surfaces for the tile endpoints, and optionally a router factory whose routes
:func:`api.app.create_app` mounts.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import shutil
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.errors import status_for
from api.storage import ACTIVE_STATUSES, InstanceRecord, JobRecord, Storage, StorageConfig, new_id

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = [
    "JobKind",
    "JobContext",
    "JobAborted",
    "JOB_KINDS",
    "JOB_KIND_MODULES",
    "register_job_kind",
    "load_job_kinds",
    "JobKindError",
    "JobManager",
    "stage_fraction",
]

log = logging.getLogger("vacuum.jobs")


class JobAborted(Exception):
    """The job is no longer ours to run (interrupted by a restart, or the server died)."""


@dataclass(frozen=True)
class JobKind:
    """One kind of background job.

    ``run(ctx, request) -> result`` runs in a worker process: it must be a module-level
    function of a module in :data:`JOB_KIND_MODULES`; it writes products under
    ``ctx.staging_dir()``, calls ``ctx.publish()`` to move them into place, reports
    ``ctx.progress(stage, fraction)`` and returns a small JSON-able result.

    ``resolve_surface(storage, job, phase, surface) -> Path`` finds a stored COG for the
    tile endpoints (:class:`api.errors.NotFoundError` if there is none). ``router() -> APIRouter``
    gives the kind's routes (submit, status, products), mounted by ``create_app``;
    handlers reach the services with the ``api.deps.ServicesDep`` dependency.
    ``stages`` with weights turn per-stage progress into the job's overall fraction.
    """

    name: str
    id_prefix: str
    run: Callable[[JobContext, dict[str, Any]], dict[str, Any]]
    resolve_surface: Callable[[Storage, JobRecord, int | None, str], Path] | None = None
    router: Callable[[], APIRouter] | None = None
    stages: tuple[tuple[str, float], ...] = ()


JOB_KINDS: dict[str, JobKind] = {}
JOB_KIND_MODULES = ("api.analyses", "api.scenarios", "api.monitors")
"""Modules that register job kinds on import, each with a ``register_job_kind(JobKind(...))``
call at its top level; a new kind's module is added here and its jobs, routes and tiles plug
in. Every module listed must import and register a kind (see :func:`load_job_kinds`)."""


def register_job_kind(kind: JobKind) -> JobKind:
    JOB_KINDS[kind.name] = kind
    return kind


class JobKindError(RuntimeError):
    """A module of :data:`JOB_KIND_MODULES` that registers no job kind: a startup error."""


def load_job_kinds() -> dict[str, JobKind]:
    """Import every module of :data:`JOB_KIND_MODULES`; return the registered kinds.

    Nothing is skipped: an import error (a missing module too) propagates, and a module that
    registers no kind raises :class:`JobKindError`, so a broken plugin stops the server
    instead of leaving its routes and jobs silently absent.
    """
    for name in JOB_KIND_MODULES:
        importlib.import_module(name)
        if not any(kind.run.__module__ == name for kind in JOB_KINDS.values()):
            raise JobKindError(f"{name} is listed in api.jobs.JOB_KIND_MODULES but registered no job kind; "
                               "call register_job_kind(JobKind(...)) at its top level, or remove it from the list")
    return JOB_KINDS


def stage_fraction(stages: tuple[tuple[str, float], ...], stage: str, frac: float) -> float | None:
    """Overall fraction done when ``stage`` is ``frac`` done; None for a stage not listed."""
    total = sum(w for _, w in stages)
    done = 0.0
    for name, w in stages:
        if name == stage:
            return min(1.0, (done + w * max(0.0, min(1.0, frac))) / total) if total else None
        done += w
    return None


# ============================================================================ worker side


@dataclass
class JobContext:
    """What a running job gets in its worker process."""

    job: JobRecord
    storage: Storage
    travel_time_jobs: int = 1
    parent_pid: int | None = None
    stages: tuple[tuple[str, float], ...] = ()
    _last_write: float = 0.0
    _last_stage: str | None = None
    _fraction: float = 0.0
    _staging: Path | None = field(default=None, repr=False)

    def progress(self, stage: str, frac: float) -> None:
        """Record progress (throttled); raise :class:`JobAborted` if the job is no longer ours."""
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            raise JobAborted("the server that started this worker is gone")
        overall = stage_fraction(self.stages, stage, frac)
        if overall is not None:
            self._fraction = max(self._fraction, overall)
        t = time.monotonic()
        if stage == self._last_stage and frac < 1.0 and t - self._last_write < 0.5:
            return
        self._last_stage, self._last_write = stage, t
        if not self.storage.update_progress(self.job.id, stage, frac, self._fraction, attempt=self.job.attempt):
            raise JobAborted(f"job {self.job.id} is no longer running")

    def staging_dir(self) -> Path:
        """An empty folder in the workspace to write products into before :meth:`publish`."""
        if self._staging is None:
            self._staging = self.storage.tmp_dir() / f"{self.job.id}-{uuid.uuid4().hex[:8]}"
            self._staging.mkdir(parents=True)
        return self._staging

    def final_dir(self) -> Path:
        return self.storage.job_dir(self.job.kind, self.job.id)

    def publish(self) -> Path:
        """Move the staging folder into place in one rename."""
        final = self.final_dir()
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # a leftover of an earlier attempt that never finished
            shutil.rmtree(final)
        os.replace(self.staging_dir(), final)
        self._staging = None
        return final

    def discard(self) -> None:
        for d in (self._staging, self.final_dir()):
            if d is not None and d.exists():
                shutil.rmtree(d, ignore_errors=True)


_WORKER: dict[str, Any] = {}


def _init_worker(config: StorageConfig, parent_pid: int, travel_time_jobs: int) -> None:
    # Ctrl-C reaches the whole process group: the server, not each worker, decides what stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    logging.getLogger("vacuum").setLevel(logging.INFO)
    _WORKER.update(config=config, parent=parent_pid, travel_time_jobs=travel_time_jobs)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="vacuum-parent-watch", daemon=True).start()
    load_job_kinds()


def _exit_with_parent(parent_pid: int, every_s: float = 0.5) -> None:
    """End this worker when its server is gone (killed): idle or busy, never an orphan.

    The job it was running stays ``running`` in the store until the next server marks it
    ``interrupted``; its half-written staging folder is dropped by ``Storage.init``.
    """
    while os.getppid() == parent_pid:
        time.sleep(every_s)
    os._exit(0)


def _storage() -> Storage:
    if "storage" not in _WORKER:
        _WORKER["storage"] = _WORKER["config"].open()
    return _WORKER["storage"]


def _warm() -> int:
    """Import the engine in a fresh worker, so the first job does not wait for it."""
    import geo.pipeline  # noqa: F401
    import geo.products  # noqa: F401

    _storage()
    return os.getpid()


def run_job(job_id: str, instance_id: str, claimed: bool = False) -> str:
    """Run one job in this worker process; the outcome is recorded in the store.

    ``claimed``: the server already moved the job to ``running`` for ``instance_id``
    (:meth:`Storage.claim_job`); otherwise this worker starts it (queued -> running)."""
    storage = _storage()
    job = storage.get_job(job_id)
    kind = JOB_KINDS.get(job.kind)
    if kind is None:
        storage.finish_job(job_id, "failed", error=f"no job kind {job.kind!r} in this server")
        return "failed"
    if claimed:
        if job.status != "running" or job.instance_id != instance_id:
            return "skipped"  # taken back (its server was taken as dead) before the worker got to it
    elif not storage.start_job(job_id, instance_id):
        return "skipped"  # interrupted or cancelled while queued
    ctx = JobContext(job=job, storage=storage, travel_time_jobs=_WORKER.get("travel_time_jobs", 1),
                     parent_pid=_WORKER.get("parent"), stages=kind.stages)
    try:
        result = kind.run(ctx, job.request)
    except JobAborted as exc:
        log.info("job %s aborted: %s", job_id, exc)
        ctx.discard()
        return "aborted"
    except Exception as exc:
        if status_for(exc) < 500:  # an input error of the one table: the message is for the user
            ctx.discard()
            storage.finish_job(job_id, "failed", error=str(exc), attempt=job.attempt)
            return "failed"
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        ctx.discard()
        storage.finish_job(job_id, "failed", attempt=job.attempt,
                           error=f"internal error ({type(exc).__name__}: {exc}); the server log has the traceback")
        return "failed"
    if not storage.finish_job(job_id, "done", result=result, attempt=job.attempt):
        ctx.discard()  # interrupted meanwhile: its products must not appear
        return "aborted"
    return "done"


# ============================================================================ server side


def _age_s(ts: str | None) -> float:
    if not ts:
        return float("inf")
    try:
        return time.time() - datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return float("inf")


class JobManager:
    """Submits jobs to worker processes and keeps job statuses truthful."""

    def __init__(self, storage: Storage, config: StorageConfig, *, workers: int, travel_time_jobs: int = 1,
                 heartbeat_s: float = 10.0, stale_after_s: float = 60.0, job_retries: int = 1,
                 poll_s: float = 1.0, max_active_per_key: int | None = None):
        self.storage = storage
        self.config = config
        self.workers = workers
        self.travel_time_jobs = travel_time_jobs
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.job_retries = job_retries
        self.poll_s = poll_s
        self.shared = bool(getattr(storage, "claims_jobs", False))  # claim queued jobs from the database
        self._wake = threading.Event()
        self.max_active_per_key = max_active_per_key
        self.host = socket.gethostname()
        self.instance_id = new_id("srv")
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._futures: dict[str, Future] = {}

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        load_job_kinds()
        self.storage.register_instance(InstanceRecord(id=self.instance_id, host=self.host, pid=os.getpid()))
        self.recover()
        with self._lock:
            ex = self._ensure_executor()
            for _ in range(self.workers):
                ex.submit(_warm)
        self._thread = threading.Thread(target=self._loop, name="vacuum-jobs", daemon=True)
        self._thread.start()
        if self.shared:
            self._wake.set()  # claim what is already queued now, not after the first poll

    def stop(self) -> None:
        """Graceful stop: this server's unfinished jobs become ``interrupted``; workers end."""
        self._stop.set()
        self._wake.set()
        if not self.shared:
            for job in self.storage.list_jobs(statuses=ACTIVE_STATUSES, limit=100_000):
                if job.instance_id == self.instance_id:
                    self.storage.finish_job(job.id, "interrupted",
                                            error="the server was stopped while the job was unfinished; submit it again")
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            procs = list(getattr(ex, "_processes", {}).values())
            ex.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                with contextlib.suppress(Exception):
                    p.terminate()
            for p in procs:
                with contextlib.suppress(Exception):
                    p.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_s + 5)
        if self.shared:  # workers are gone: no late write; queued jobs stay queued for the other servers
            with contextlib.suppress(Exception):
                self.storage.reap_jobs(stale_before=None, instance_ids=[self.instance_id], retries=self.job_retries,
                                       reason="the server running the job was stopped")
        with contextlib.suppress(Exception):
            self.storage.stop_instance(self.instance_id)

    def _ensure_executor(self) -> ProcessPoolExecutor:
        if self._executor is None:
            import multiprocessing as mp

            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                initargs=(self.config, os.getpid(), self.travel_time_jobs))
        return self._executor

    def _loop(self) -> None:
        """Heartbeat and recovery every ``heartbeat_s``; with a shared queue, also claim queued
        jobs for free workers every ``poll_s`` and whenever a job is submitted or ends here."""
        last_beat = time.monotonic()
        while not self._stop.is_set():
            wait = self.heartbeat_s - (time.monotonic() - last_beat)
            if self.shared:
                wait = min(wait, self.poll_s)
            self._wake.wait(max(0.0, wait))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if time.monotonic() - last_beat >= self.heartbeat_s:
                    last_beat = time.monotonic()
                    self.storage.heartbeat(self.instance_id)
                    if self.shared:
                        self.storage.touch_jobs(self.instance_id)
                    self.recover()
                if self.shared:
                    self._claim_free()
            except Exception:  # a database hiccup must not end the loop
                log.exception("job loop failed")

    def _claim_free(self) -> list[str]:
        """Claim queued jobs from the database while this server has free workers."""
        out = []
        while not self._stop.is_set() and len(self._futures) < self.workers:
            job = self.storage.claim_job(self.instance_id)
            if job is None:
                break
            self._dispatch(job.id, claimed=True)
            out.append(job.id)
        return out

    # ---------------------------------------------------------------- jobs
    def submit(self, kind: str, request: dict[str, Any], *, name: str = "", created_by: str = "",
               created_by_name: str = "") -> JobRecord:
        if kind not in JOB_KINDS:
            raise LookupError(f"no job kind {kind!r}")
        self.check_quota(created_by, created_by_name)
        # shared queue: the job belongs to no server until one claims it; else it is this server's
        job = JobRecord(id=new_id(JOB_KINDS[kind].id_prefix), kind=kind, request=request, name=name,
                        instance_id=None if self.shared else self.instance_id, created_by=created_by,
                        created_by_name=created_by_name)
        self.storage.create_job(job)
        if self.shared:
            self._wake.set()
        else:
            self._dispatch(job.id)
        return job

    def active_jobs(self, key_id: str) -> list[JobRecord]:
        """The queued or running jobs a key submitted."""
        return [j for j in self.storage.list_jobs(statuses=ACTIVE_STATUSES, limit=100_000) if j.created_by == key_id]

    def check_quota(self, key_id: str, key_name: str = "") -> None:
        """:class:`api.errors.QuotaExceededError` when ``key_id`` has as many active jobs as it may."""
        if self.max_active_per_key is None or not key_id:
            return
        n = len(self.active_jobs(key_id))
        if n >= self.max_active_per_key:
            from api.errors import QuotaExceededError

            raise QuotaExceededError(
                f"your key {key_name or key_id!r} has {n} job{'s' if n != 1 else ''} queued or running, the most it "
                f"may have (VACUUM_MAX_ACTIVE_JOBS_PER_KEY={self.max_active_per_key}); wait for one to finish or "
                "cancel one (POST /analyses/{id}/cancel, POST /scenarios/{id}/cancel)")

    def cancel(self, job: JobRecord, by: str) -> bool:
        """Stop a queued or running job: it is marked ``interrupted`` ("cancelled by ..."), a queued
        one never starts, a running one stops at its next progress report (its worker then drops
        its staging folder); its partial files are removed here too. False if it had finished."""
        from api.storage import now

        if not self.storage.finish_job(job.id, "interrupted", error=f"cancelled by {by} at {now()}"):
            return False
        with self._lock:
            fut = self._futures.get(job.id)
        if fut is not None:
            fut.cancel()
        for d in (*self.storage.tmp_dir().glob(f"{job.id}-*"), self.storage.job_dir(job.kind, job.id)):
            if d.is_dir():
                shutil.rmtree(d, ignore_errors=True)
        return True

    def _dispatch(self, job_id: str, claimed: bool = False) -> None:
        with self._lock:
            ex = self._ensure_executor()
            try:
                fut = ex.submit(run_job, job_id, self.instance_id, claimed)
            except (BrokenProcessPool, RuntimeError):
                self._executor = None
                ex = self._ensure_executor()
                fut = ex.submit(run_job, job_id, self.instance_id, claimed)
            self._futures[job_id] = fut
        fut.add_done_callback(functools.partial(self._done, job_id))

    def _done(self, job_id: str, fut: Future) -> None:
        self._futures.pop(job_id, None)
        if self.shared:
            if self._stop.is_set():
                return  # stop() hands this server's running jobs back (reap_jobs)
            self._wake.set()  # a worker is free: claim the next queued job
        if fut.cancelled():
            self.storage.finish_job(job_id, "interrupted", error="the job was cancelled before it started")
            return
        exc = fut.exception()
        if exc is None:
            return
        if isinstance(exc, BrokenProcessPool):
            with self._lock:
                self._executor = None  # the next submit starts a fresh pool
            msg = "the worker process running the job died (out of memory, or killed); submit it again"
        else:
            msg = f"the job could not be run ({type(exc).__name__}: {exc})"
        log.error("job %s: %s", job_id, msg)
        self.storage.finish_job(job_id, "failed", error=msg)

    def recover(self) -> list[str]:
        """Mark ``interrupted`` the unfinished jobs of server instances that are gone.

        Shared queue (PostGIS): queued jobs belong to no server and wait for a claim; a running
        job whose server is gone, or whose heartbeat is older than ``stale_after_s``, is queued
        again (``job_retries`` times) or else marked ``interrupted``."""
        instances = {i.id: i for i in self.storage.list_instances()}
        if self.shared:
            gone = [i.id for i in instances.values() if i.id != self.instance_id and not self._alive(i)]
            stale = datetime.fromtimestamp(time.time() - self.stale_after_s, UTC).isoformat(timespec="milliseconds")
            reaped = self.storage.reap_jobs(stale_before=stale, instance_ids=gone, retries=self.job_retries)
            if reaped:
                log.warning("jobs of servers gone or silent: %s", ", ".join(f"{i} -> {st}" for i, st in reaped))
                self._wake.set()
            return [i for i, _ in reaped]
        out = []
        for job in self.storage.list_jobs(statuses=ACTIVE_STATUSES, limit=100_000):
            if job.instance_id == self.instance_id:
                continue
            inst = instances.get(job.instance_id or "")
            if inst is not None and self._alive(inst):
                continue
            where = f"pid {inst.pid} on {inst.host}" if inst is not None else "an unknown server"
            if self.storage.finish_job(job.id, "interrupted",
                                       error=f"the server running the job ({where}) stopped before it finished; "
                                             "submit it again"):
                out.append(job.id)
        if out:
            log.warning("marked %d orphaned job(s) interrupted: %s", len(out), ", ".join(out))
        return out

    def _alive(self, inst: InstanceRecord) -> bool:
        if inst.stopped_at is not None:
            return False
        fresh = _age_s(inst.heartbeat_at) < self.stale_after_s
        if inst.host == self.host:  # same machine: a dead process is dead now, not in a minute
            from geo.monitor import pid_alive  # the check a monitor folder's owner gets too

            return fresh and pid_alive(inst.pid) and inst.pid != os.getpid()
        return fresh
