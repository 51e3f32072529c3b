"""Where the per-video tasks of ``islpose extract`` run.

An executor calls ``fn(task, on_frames)`` for every task and yields ``(task, result)``
as each finishes (in any order), where ``result`` is what ``fn`` returned or the
exception that stopped it (a worker process that died, a cluster error). The caller
(the only writer of the feature store) stays in the main process; the workers only
return arrays. At most ``2 x workers`` tasks are in flight, so a run over 100 000
videos neither queues them all nor piles up results.

Executors register by name in :data:`EXECUTORS`:

* ``local``: this machine. ``workers=1`` runs in this process; more use a pool of
  processes (``spawn``: a fresh interpreter each, so no MediaPipe state is shared).
  A worker that dies (e.g. killed for memory) fails its tasks, and the pool is rebuilt.
* ``ray``: an existing Ray cluster (``pip install 'islpose[ray]'``); connects to
  ``RAY_ADDRESS`` when set, else starts a local Ray. Every node must see the video
  files at the same paths (shared filesystem). Frames are counted per finished video.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import Any

from islpose._optional import require
from islpose.errors import IslposeError

TaskFn = Callable[[Any, Callable[[int], None] | None], Any]
OnFrames = Callable[[int], None]


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class Executor(ABC):
    """Runs tasks, yields ``(task, result or exception)`` as they finish."""

    #: True when ``on_frames`` is called while a video is processed; otherwise the
    #: caller counts a video's frames when it finishes.
    streams_frames = True

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise IslposeError(f"workers must be at least 1, not {workers}")
        self.workers = workers

    @abstractmethod
    def map_unordered(
        self, fn: TaskFn, tasks: Iterable[Any], on_frames: OnFrames | None = None
    ) -> Iterator[tuple[Any, Any]]:
        """Yields ``(task, fn(task, ...))`` or ``(task, exception)`` per task."""

    def close(self) -> None:  # noqa: B027 - a no-op unless the executor holds workers
        """Releases workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- local
_QUEUE: Any = None  # a worker's progress queue, set by _init_worker


def _init_worker(progress_queue: Any) -> None:
    global _QUEUE
    _QUEUE = progress_queue


class _Ticker:
    """Counts frames in a worker and sends the count to the main process at most every
    ``interval`` seconds; what is left at the end of a task travels with its result."""

    def __init__(self, interval: float = 0.2) -> None:
        self.pending, self.sent, self.interval, self.last = 0, 0, interval, time.monotonic()

    def __call__(self, n: int) -> None:
        self.pending += n
        if time.monotonic() - self.last >= self.interval and _QUEUE is not None:
            _QUEUE.put(self.pending)
            self.sent += self.pending
            self.pending, self.last = 0, time.monotonic()


def _pool_call(fn: TaskFn, task: Any) -> tuple[Any, int, int]:
    """Runs ``fn`` in a worker: ``(result, frames sent through the queue, frames not sent)``."""
    ticker = _Ticker()
    result = fn(task, ticker)
    return result, ticker.sent, ticker.pending


class LocalExecutor(Executor):
    """This machine: ``workers`` processes (default: all cores); 1 runs in-process."""

    def __init__(self, workers: int | None = None) -> None:
        super().__init__(workers)
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None
        self._queue: Any = None

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        if self._queue is None:
            self._queue = ctx.Queue()
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self._queue,))

    def _drain(self, on_frames: OnFrames | None, wait_for: int = 0, timeout: float = 5.0) -> int:
        """Hands queued frame counts to ``on_frames``; waits (up to ``timeout`` s) until at
        least ``wait_for`` frames came. Returns the frames received."""
        received, deadline = 0, time.monotonic() + timeout
        while True:
            try:
                block = received < wait_for and time.monotonic() < deadline
                n = self._queue.get(timeout=0.05) if block else self._queue.get_nowait()
            except queue_module.Empty:
                if received >= wait_for or time.monotonic() >= deadline:
                    return received
                continue
            received += n
            if on_frames is not None:
                on_frames(n)

    def map_unordered(
        self, fn: TaskFn, tasks: Iterable[Any], on_frames: OnFrames | None = None
    ) -> Iterator[tuple[Any, Any]]:
        if self.workers == 1:
            for task in tasks:
                try:
                    result = fn(task, on_frames)
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    result = exc
                yield task, result
            return
        tasks = iter(tasks)
        running: dict[Future, tuple[Any, ProcessPoolExecutor]] = {}
        self._pool = self._pool or self._new_pool()
        sent = received = 0  # frames that finished tasks sent through the queue / that arrived
        while True:
            for task in islice(tasks, 2 * self.workers - len(running)):
                running[self._pool.submit(_pool_call, fn, task)] = (task, self._pool)
            if not running:
                self._drain(on_frames, wait_for=sent - received)  # the queue lags behind the results
                return
            done, _ = wait(running, timeout=0.1, return_when=FIRST_COMPLETED)
            received += self._drain(on_frames)
            for future in done:
                task, pool = running.pop(future)
                try:
                    result, queued, rest = future.result()
                    sent += queued
                    if on_frames is not None and rest:
                        on_frames(rest)
                except BrokenProcessPool:
                    # Every task in flight in that pool fails; a rerun retries them.
                    result = IslposeError(
                        "a worker process died while this video was in flight (killed, out of memory or crashed)"
                    )
                    if pool is self._pool:
                        pool.shutdown(wait=False, cancel_futures=True)
                        self._pool = self._new_pool()
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    result = exc
                yield task, result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._queue is not None:
            self._queue.close()
            self._queue = None


# --------------------------------------------------------------------------- ray
def _ray_call(fn: TaskFn, task: Any) -> Any:
    return fn(task, None)


class RayExecutor(Executor):
    """A Ray cluster: one task per video, one CPU each (``workers``: tasks in flight / 2,
    default the cluster's CPUs)."""

    streams_frames = False

    def __init__(self, workers: int | None = None) -> None:
        super().__init__(workers)
        ray = require("ray", "ray", "Ray (--executor ray)")
        self._ray = ray
        self._started = not ray.is_initialized()  # ours to shut down
        if self._started:
            ray.init(address=os.environ.get("RAY_ADDRESS"), ignore_reinit_error=True)
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1)(_ray_call)

    def map_unordered(
        self, fn: TaskFn, tasks: Iterable[Any], on_frames: OnFrames | None = None
    ) -> Iterator[tuple[Any, Any]]:
        ray = self._ray
        tasks = iter(tasks)
        running: dict[Any, Any] = {}
        while True:
            for task in islice(tasks, 2 * self.workers - len(running)):
                running[self._remote.remote(fn, task)] = task
            if not running:
                return
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                task = running.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - ray.exceptions.RayError and task errors
                    result = exc
                yield task, result

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(name: str, workers: int | None = None) -> Executor:
    """The executor registered as ``name`` with ``workers`` workers."""
    if name not in EXECUTORS:
        raise IslposeError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})")
    return EXECUTORS[name](workers)
