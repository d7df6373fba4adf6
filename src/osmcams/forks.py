"""Work in forked processes on Linux with several cores: each dies with the process that
forked it, and its error is raised there. Plain fork and a pipe each, no thread: a fork
while another thread holds a lock can hang the child."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn


def _die_with_parent(parent: int) -> None:
    """A forked worker gets SIGKILL when the process that forked it ends (PR_SET_PDEATHSIG):
    a killed build leaves no worker writing into its staging folder, nor holding the lock
    it inherited. A parent killed before the call is seen by the pid check after it."""
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def fork() -> int:
    """os.fork, with SIGINT and SIGTERM held in this thread until it returns: a Ctrl-C during
    the fork's own handlers (logging's, where Python ignores an exception) is raised after
    it, not lost (another thread may still take a signal sent to the process: the CLI's
    handler then waits until this function has returned). The child ignores them (a
    terminal, or systemd, sends them to the whole group): the parent, stopped, kills it."""
    import signal

    stops = {signal.SIGINT, signal.SIGTERM}
    held = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        pid = os.fork()
        if pid == 0:
            for signum in stops:
                signal.signal(signum, signal.SIG_IGN)
        return pid
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def forking() -> bool:
    """Whether work goes to forked processes: on Linux with several cores."""
    return (os.cpu_count() or 1) >= 2 and sys.platform == "linux"


def _child(task: Callable[[], None], out: int, parent: int) -> NoReturn:
    """Run `task` in a process forked by `parent`, which it dies with; its error goes
    pickled into the pipe `out`. The process then ends at once: none of the parent's exit
    handlers, buffers or `finally` blocks run again in it. It never collects garbage: the
    parent's, copied, may hold native state that only the parent can tear down (a libosmium
    thread pool's condition variables, waited on by threads that the fork did not copy)."""
    import gc
    import pickle

    gc.disable()
    code = 0
    try:
        _die_with_parent(parent)
        task()
    except BaseException as e:  # for the parent to raise
        code = 1
        try:
            error = pickle.dumps(e)
        except Exception:  # an error that cannot be pickled: its text
            error = pickle.dumps(RuntimeError(f"{type(e).__name__}: {e}"))
        with open(out, "wb") as f:
            f.write(error)
    finally:
        os._exit(code)


@contextmanager
def _forked(tasks: list[Callable[[], None]]) -> Iterator[list[Callable[[], None]]]:
    """`tasks` started now in forked processes (they die with this one), and a function for
    each that waits for it and raises its error. Leaving the block without waiting for
    one (an error here) kills it. Plain fork and a pipe each, no thread: a fork while
    another thread holds a lock can hang the child (Python 3.12 warns of it)."""
    import pickle
    import signal

    parent = os.getpid()
    running: dict[int, int] = {}  # pid: the end of its pipe that its error comes out of

    def wait(pid: int) -> None:
        with open(running.pop(pid), "rb") as f:
            error = f.read()  # until the child ends
        _, status = os.waitpid(pid, 0)
        if error:
            raise pickle.loads(error)
        if status:
            raise RuntimeError(f"a forked worker ended with {os.waitstatus_to_exitcode(status)}")

    try:
        for task in tasks:
            read, write = os.pipe()
            pid = fork()
            if pid == 0:
                os.close(read)
                _child(task, write, parent)
            os.close(write)
            running[pid] = read
        yield [functools.partial(wait, pid) for pid in list(running)]
    finally:
        for pid, read in running.items():
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)


def in_parallel(tasks: list[Callable[[], None]], then: Callable[[], None] | None = None) -> None:
    """Run `tasks`, the first in this process and the others in forked ones beside it on
    Linux with several cores (else one after the other); `then` runs in this process once
    its task is done, before the others are waited for; the first error is raised."""
    if len(tasks) < 2 or not forking():
        for task in tasks:
            task()
        if then is not None:
            then()
        return
    with _forked(tasks[1:]) as waits:
        tasks[0]()
        if then is not None:
            then()
        for wait in waits:
            wait()


@contextmanager
def beside(task: Callable[[], None]) -> Iterator[Callable[[], None]]:
    """`task` started now in a forked process where `forking`, and a function that waits
    for it (elsewhere, that runs it)."""
    if not forking():
        yield task
    else:
        with _forked([task]) as waits:
            yield waits[0]
