"""Benchmarks across farm places: every model on every board the places offer, each job on a free
place of its board, places working in parallel (one job each at a time).

The main thread owns the coordinator session: it acquires the places, hands each one's serial
port to a worker thread and releases each place as soon as its worker ends, and every place it
acquired when anything goes wrong (an error, Ctrl-C, SIGTERM). A worker flashes and streams through
its place; a job whose board stops answering (a failed flash, a dead or silent line) is put back
once for another place of the same board, and that place takes no more jobs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tinydeploy.bench import Firmware, bench
from tinydeploy.errors import TinyDeployError
from tinydeploy.farm import Farm, FlashError, Place, PlaceTarget
from tinydeploy.progress import step
from tinydeploy.serial_link import DeviceError

RETRIES = 1   # times a job whose board stopped answering moves to another place


@dataclass
class Job:
    """One model on one board: its firmware and inputs, and where it failed so far."""

    index: int
    fw: Firmware
    tflite: bytes
    inputs: Any
    labels: Any
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.fw.compiled.name} on {self.fw.board.name}"


class JobPool:
    """The jobs waiting per board, shared by the workers; a worker waits while jobs of its board
    are still running elsewhere, since a failed one may come back."""

    def __init__(self, jobs: list[Job], places: list[Place]) -> None:
        self.cond = threading.Condition()
        self.queues: dict[str, deque[Job]] = {}
        for job in jobs:
            self.queues.setdefault(job.fw.board.name, deque()).append(job)
        self.running = {board: 0 for board in self.queues}
        self.live = {board: sum(p.board == board for p in places) for board in self.queues}
        self.results: dict[int, dict[str, Any]] = {}
        self.failed: list[Job] = []
        self.crash: BaseException | None = None

    def take(self, board: str) -> Job | None:
        """The next job for a place of `board`, or None when there is none left to run."""
        with self.cond:
            while self.crash is None:
                if self.queues[board]:
                    self.running[board] += 1
                    return self.queues[board].popleft()
                if not self.running[board]:
                    return None
                self.cond.wait()
            return None

    def done(self, job: Job, report: dict[str, Any]) -> None:
        with self.cond:
            self.results[job.index] = report
            self.running[job.fw.board.name] -= 1
            self.cond.notify_all()

    def board_failed(self, job: Job, place: str, exc: TinyDeployError) -> None:
        """The place's board stopped answering: the place is out, the job goes to another place
        of its board once; with no place of that board left, its remaining jobs fail."""
        board = job.fw.board.name
        with self.cond:
            job.failures.append({"place": place, "error": str(exc)})
            self.running[board] -= 1
            self.live[board] -= 1
            if len(job.failures) <= RETRIES and self.live[board]:
                self.queues[board].appendleft(job)
            else:
                self.failed.append(job)
            if not self.live[board]:
                self.failed.extend(self.queues[board])
                self.queues[board].clear()
            self.cond.notify_all()

    def crashed(self, exc: BaseException) -> None:
        """An error no other place can help with (a bug, a bad model): every worker stops."""
        with self.cond:
            self.crash = self.crash or exc
            self.cond.notify_all()


def _work(pool: JobPool, target: PlaceTarget, bench_args: dict[str, Any]) -> None:
    """A place's worker: run jobs of its board until none is left or its board stops answering."""
    while (job := pool.take(target.board.name)) is not None:
        started = time.time()
        try:
            report = bench(job.fw, job.tflite, job.inputs, job.labels, target=target, **bench_args)
        except (DeviceError, FlashError) as exc:
            step(f"{job.name}: place {target.place} stopped answering ({exc.problem})")
            pool.board_failed(job, target.place, exc)
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
            pool.crashed(exc)
            return
        report.update(place=target.place, started=round(started, 3),
                      seconds=round(time.time() - started, 3))
        if job.failures:
            report["failed_places"] = job.failures
        pool.done(job, report)


def no_free_place(boards: set[str | None], reasons: list[str]) -> TinyDeployError:
    """The error for boards none of whose places this client can acquire: who holds them."""
    return TinyDeployError(f"no free place for {', '.join(sorted(str(b) for b in boards))}: "
                           + "; ".join(reasons), "wait for one with --wait SECONDS, or ask the "
                           "holder to release it (labgrid-client -p PLACE release)")


def acquire_places(farm: Farm, places: list[Place], wait: float) -> list[Place]:
    """Acquire every free place among `places`, waiting up to `wait` seconds where a board has
    none free yet; a board left with none is an error naming who holds its places."""
    deadline = time.monotonic() + wait
    boards = {p.board for p in places}
    got: list[Place] = []
    try:
        while True:
            busy = []
            for p in places:
                if p in got:
                    continue
                why = farm.try_acquire(p.name)
                if why:
                    busy.append(why)
                else:
                    got.append(p)
            missing = boards - {p.board for p in got}
            if not missing:
                for why in busy:
                    step(f"{why}: running on the others")
                return got
            if time.monotonic() >= deadline:
                raise no_free_place(missing, busy)
            farm.pump(1.0)
    except BaseException:
        for p in got:
            farm.release(p.name)
        raise


def run_jobs(farm: Farm, places: list[Place], jobs: list[Job], bench_args: dict[str, Any],
             wait: float = 0.0) -> list[dict[str, Any]]:
    """Run the jobs on the places (all of whose boards have jobs); the reports in job order."""
    held = acquire_places(farm, places, wait)
    released: set[str] = set()
    errors: list[TinyDeployError] = []
    pool = JobPool(jobs, held)
    try:
        targets = {p.name: PlaceTarget(jobs_board(jobs, p), p.name, farm.address,
                                       farm.serial_url(p.name)) for p in held}
        workers = {name: threading.Thread(target=_work, args=(pool, t, bench_args), daemon=True,
                                          name=f"place-{name}") for name, t in targets.items()}
        step(f"{len(jobs)} job{'s' if len(jobs) > 1 else ''} on "
             f"{', '.join(workers)}")
        for w in workers.values():
            w.start()
        while len(released) < len(workers):
            farm.pump(0.2)
            for name, w in workers.items():
                if name not in released and not w.is_alive():
                    released.add(name)
                    farm.release(name)
    finally:
        for p in held:
            if p.name not in released:
                try:
                    farm.release(p.name)
                except TinyDeployError as exc:
                    errors.append(exc)
    if pool.crash is not None:
        raise pool.crash
    if errors:
        raise errors[0]
    if pool.failed:
        job = pool.failed[0]
        where = "; ".join(f"place {f['place']}: {f['error']}" for f in job.failures) or \
            f"no place of {job.fw.board.name} was left"
        raise TinyDeployError(f"{job.name} failed ({where})",
                              "check those places' boards and exporters; no report was written")
    return [pool.results[j.index] for j in jobs]


def jobs_board(jobs: list[Job], place: Place) -> Any:
    """The Board object the jobs carry for a place's board tag."""
    return next(j.fw.board for j in jobs if j.fw.board.name == place.board)
