"""Reader processes for `batch`, each with its own pipe, so that no process waits on a dead one.

`multiprocessing.Pool` passes every task and result through queues that all its workers share,
guarded by locks. A worker killed at the wrong moment (the SIGTERM that `timeout`, SLURM or
Kubernetes send to every process of a job, or the kernel's OOM killer on a huge record) dies
holding such a lock: the pool's shutdown then waits forever, and the record it was reading is
never answered. Here a worker shares nothing: its death is an end of file on its own pipe, the
record it was reading becomes an error row, the ones queued behind it go to other workers, a new
worker takes its place, and shutting down is killing the processes. Workers ignore SIGINT and
SIGTERM, which are the main process's to handle.
"""

from __future__ import annotations

import collections
import multiprocessing.connection
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ecglm_cli.interrupts import interrupts_held

PER_WORKER = 2  # jobs a worker holds at a time: one being read, one waiting in its pipe
_DONE = object()


class _Failed:
    """An exception raised while handing out jobs (reading a list of paths), for the consumer."""

    def __init__(self, exc: BaseException):
        self.exc = exc


class _Worker:
    def __init__(self, context: Any, setup: Callable[..., None], setup_args: tuple,
                 work: Callable[[Any], Any]):
        self.conn, there = context.Pipe()
        self.process = context.Process(target=_serve, args=(there, setup, setup_args, work),
                                       daemon=True)
        self.process.start()
        there.close()
        self.jobs: collections.deque = collections.deque()


def _serve(conn: Any, setup: Callable[..., None], setup_args: tuple,
           work: Callable[[Any], Any]) -> None:
    """A worker's loop: a job in, its result out, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C and SIGTERM, also when sent to the
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # whole process group, are the main's to handle
    setup(*setup_args)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the main process has gone
            return
        conn.send(work(job))


class ReaderPool:
    """`workers` processes running `work(job)`, each started with `setup(*setup_args)`."""

    def __init__(self, context: Any, workers: int, setup: Callable[..., None], setup_args: tuple,
                 work: Callable[[Any], Any]):
        self._start = lambda: _Worker(context, setup, setup_args, work)
        with interrupts_held():  # a worker left running if this were cut short: see `close`
            self._workers = [self._start() for _ in range(workers)]
        self._closing = threading.Event()  # no more work and no new worker
        self._lock = threading.Lock()  # the worker list: the pump replaces, `close` kills
        self._retry: collections.deque = collections.deque()  # jobs a dead worker never began
        self._exhausted = False  # every job has been taken from the source

    def imap_unordered(self, jobs: Iterable[Any], max_in_flight: int, idle_s: float,
                       lost: Callable[[Any], Any]) -> Iterator[Any]:
        """Results in the order workers finish them, and `None` after `idle_s` without one
        (once per pool).

        At most `max_in_flight` jobs are handed out or waiting to be taken. A job whose worker
        died gives `lost(job)` in its place. Jobs are handed out by a thread, so reading goes on
        while the caller works on what it took.
        """
        results: queue.Queue = queue.Queue()
        slots = threading.Semaphore(max_in_flight)
        pump = threading.Thread(target=self._pump, args=(iter(jobs), results, slots, lost),
                                daemon=True)
        pump.start()
        try:
            while True:
                try:
                    item = results.get(timeout=idle_s)
                except queue.Empty:
                    yield None
                    continue
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    raise item.exc
                slots.release()
                yield item
        finally:  # the pool is done: the thread stops (or, waiting for a path on stdin, is
            self._closing.set()  # left behind as a daemon)

    def close(self) -> None:
        """Kill every worker: no lock or queue is shared, so nothing can be left waiting. No
        worker is started after this, and an interrupt waits until all are dead: a live one
        (it ignores SIGTERM) would keep the interpreter waiting for it at exit."""
        with interrupts_held(), self._lock:
            self._closing.set()
            for worker in self._workers:
                worker.process.kill()
            for worker in self._workers:
                worker.process.join()
                worker.conn.close()

    def _pump(self, source: Iterator[Any], results: queue.Queue, slots: threading.Semaphore,
              lost: Callable[[Any], Any]) -> None:
        try:
            while not self._closing.is_set():
                self._hand_out(source, slots)
                busy = {w.conn: w for w in self._workers if w.jobs}
                if not busy:
                    if self._exhausted and not self._retry:
                        results.put(_DONE)
                        return
                    self._closing.wait(0.01)  # every slot is taken: wait for the consumer
                    continue
                for conn in multiprocessing.connection.wait(list(busy), timeout=0.05):
                    worker = busy[conn]
                    try:
                        item = conn.recv()
                    except (EOFError, OSError):  # the worker died reading its first job;
                        self._replace(worker)  # the others wait in its pipe, never begun
                        results.put(lost(worker.jobs.popleft()))
                        self._retry.extend(worker.jobs)
                        continue
                    worker.jobs.popleft()
                    results.put(item)
        except BaseException as exc:  # e.g. the list of paths could not be read
            results.put(_Failed(exc))

    def _hand_out(self, source: Iterator[Any], slots: threading.Semaphore) -> None:
        """Give workers jobs up to `PER_WORKER` each: a dead worker's unbegun ones first (they
        hold their slots already), then new ones while slots last."""
        for worker in self._workers:
            while len(worker.jobs) < PER_WORKER:
                if self._retry:
                    job = self._retry.popleft()
                elif self._exhausted or not slots.acquire(blocking=False):
                    return
                else:
                    job = next(source, _DONE)
                    if job is _DONE:
                        slots.release()
                        self._exhausted = True
                        return
                try:
                    worker.conn.send(job)
                except OSError:  # a dead worker: its end of file, met next, reports the job lost
                    pass
                worker.jobs.append(job)

    def _replace(self, worker: _Worker) -> None:
        with self._lock:
            if self._closing.is_set():
                return
            worker.process.join()
            worker.conn.close()
            self._workers[self._workers.index(worker)] = self._start()
