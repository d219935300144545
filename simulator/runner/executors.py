"""Executors: who runs the independent runs of a sweep. Results do not depend on which one does.

* ``serial``: one after the other in this process.
* ``processes``: a local pool of worker processes (``concurrent.futures.ProcessPoolExecutor``, ``spawn``
  start method, so workers start clean on every platform); default: one per core.
* ``dask``: a Dask distributed cluster: an existing scheduler (``tcp://host:8786``) or, without an address,
  a ``LocalCluster`` of worker processes. Requires the optional extra ``pip install allocsim[distributed]``,
  and the package installed on every worker.

Every executor yields ``(index, outcome)`` pairs as runs finish, in completion order: ``outcome`` is what the
function returned, or the exception the infrastructure raised for that item (a worker that died, a lost
connection). The function itself (`simulator.runner.worker.execute_run`) never raises for a failing run.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from simulator.runner.errors import ExecutorError

__all__ = ["EXECUTORS", "DaskExecutor", "Executor", "ProcessExecutor", "SerialExecutor", "default_workers",
           "make_executor"]

EXECUTORS = ("serial", "processes", "dask")

Outcomes = Generator[tuple[int, Any], None, None]
"""What executors yield: ``(index of the item, result or infrastructure exception)``."""


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


class Executor(ABC):
    """Runs a function over items and yields ``(index, outcome)`` as each finishes."""

    name = ""

    @abstractmethod
    def map_unordered(self, function: Callable[[Any], Any], items: Sequence[Any]
                      ) -> Outcomes:
        """Yield ``(index of the item, result or infrastructure exception)`` in completion order."""

    def describe(self) -> str:
        return self.name


class SerialExecutor(Executor):
    """Runs every item in this process, in order."""

    name = "serial"

    def map_unordered(self, function: Callable[[Any], Any], items: Sequence[Any]
                      ) -> Outcomes:
        for index, item in enumerate(items):
            yield index, function(item)


class ProcessExecutor(Executor):
    """A pool of local worker processes (standard library only).

    Workers start with ``forkserver`` where the platform has it (a clean server process imports the simulator
    once and forks each worker from it: fast and thread-safe), else ``spawn``; never a plain ``fork`` of the
    calling process. At most ``2 x workers`` items are in flight at a time, so an interrupted sweep has not
    shipped the whole grid to the pool; a worker that dies (killed, out of memory) stops the sweep with
    `ExecutorError`.
    """

    name = "processes"
    preload = ("simulator.runner.worker", "simulator.simulation")
    """Modules the fork server imports once, before forking the workers."""

    def __init__(self, workers: int | None = None, start_method: str | None = None) -> None:
        self.workers = workers or default_workers()
        self.start_method = start_method

    def describe(self) -> str:
        return f"processes ({self.workers} workers)"

    def map_unordered(self, function: Callable[[Any], Any], items: Sequence[Any]
                      ) -> Outcomes:
        if not items:
            return
        workers = min(self.workers, len(items))
        method = self.start_method
        if method is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload(list(self.preload))
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        pending: dict[Future[Any], int] = {}
        next_index = 0
        try:
            while next_index < len(items) or pending:
                while next_index < len(items) and len(pending) < 2 * workers:
                    pending[pool.submit(function, items[next_index])] = next_index
                    next_index += 1
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=pending.__getitem__):
                    index = pending.pop(future)
                    try:
                        yield index, future.result()
                    except BrokenProcessPool:
                        raise ExecutorError(["a worker process died (killed, or out of memory?); the runs that "
                                             "finished are stored: run the same command again to resume"]) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """Runs items on a Dask distributed cluster: ``scheduler`` address, or a ``LocalCluster`` when None.

    A Ctrl-C interrupts the sweep, not the workers: a ``LocalCluster``'s worker processes ignore SIGINT, and the
    client and cluster are closed with a short timeout and Dask's logging silenced, so the interrupted sweep
    prints one line instead of the workers' tracebacks.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None) -> None:
        self.scheduler = scheduler
        self.workers = workers

    def describe(self) -> str:
        if self.scheduler:
            return f"dask ({self.scheduler})"
        return f"dask (LocalCluster, {self.workers or 'auto'} workers)"

    def map_unordered(self, function: Callable[[Any], Any], items: Sequence[Any]
                      ) -> Outcomes:
        try:
            from dask.distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ExecutorError(["--executor dask needs Dask distributed: pip install 'allocsim[distributed]' "
                                 "(or pip install 'dask[distributed]')"]) from None
        if not items:
            return
        cluster: Any = None
        client: Any = None
        completed = False
        try:
            starting = contextlib.nullcontext() if self.scheduler else _interrupts_reach_only_this_process()
            with starting:  # a remote scheduler's workers are not in our process group
                try:
                    if self.scheduler:
                        client = Client(self.scheduler, timeout="20s")
                    else:
                        cluster = LocalCluster(n_workers=min(self.workers or default_workers(), len(items)),
                                               threads_per_worker=1, processes=True, dashboard_address=None,
                                               silence_logs=logging.CRITICAL)
                        client = Client(cluster)
                except OSError as error:
                    raise ExecutorError([f"cannot reach the Dask scheduler {self.scheduler}: {error}"]) from None
            keys = [f"allocsim-run-{index}-{getattr(item, 'key', index)}" for index, item in enumerate(items)]
            futures = client.map(function, items, key=keys, pure=False)
            positions = {future.key: index for index, future in enumerate(futures)}
            try:
                for future in as_completed(futures):
                    index = positions[future.key]
                    try:
                        yield index, future.result()
                    except Exception as error:  # the worker died or the task was lost: record it for this run
                        yield index, error
                completed = True
            finally:
                with contextlib.suppress(Exception):
                    client.cancel(futures)
        finally:
            _close_quietly(client, cluster, timeout_s=10.0 if completed else 3.0)


@contextlib.contextmanager
def _interrupts_reach_only_this_process() -> Iterator[None]:
    """Start Dask's worker processes with Ctrl-C ignored, so that a Ctrl-C interrupts only the sweep itself.

    A Ctrl-C in the terminal is sent to the whole process group; Dask workers that get it die printing dozens
    of lines of ``KeyboardInterrupt`` tracebacks. Processes started here inherit SIGINT ignored (an ignored
    signal stays ignored across ``exec``), so only this process is interrupted, and it closes the cluster
    quietly. The price: a Ctrl-C in the few seconds while the cluster starts is ignored (press it again).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_handler)


def _close_quietly(client: Any, cluster: Any, timeout_s: float) -> None:
    """Close a Dask client and cluster within about ``timeout_s`` each, without Dask's logging (a closing
    cluster logs lost connections and cancelled tasks as errors, with tracebacks, that mean nothing here)."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "asyncio")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=timeout_s)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=timeout_s)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def make_executor(name: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor called ``name`` (see `EXECUTORS`).

    Raises:
        ExecutorError: An unknown name, a non-positive worker count, or a scheduler without Dask.
    """
    if workers is not None and workers < 1:
        raise ExecutorError([f"--workers must be a positive integer, got {workers}"])
    if scheduler and name != "dask":
        raise ExecutorError([f"--scheduler is for --executor dask, not {name}"])
    if name == "serial":
        return SerialExecutor()
    if name == "processes":
        return ProcessExecutor(workers)
    if name == "dask":
        return DaskExecutor(scheduler, workers)
    raise ExecutorError([f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}"])
