"""Child Python processes for tests that need a second process: one that holds a lock, a worker
that dies under SIGKILL.  The child imports this checkout's ``explore``, whatever is installed."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Callable

import pytest

TIMEOUT = 120  # seconds for any one subprocess step; generous for a loaded CI machine
ROOT = Path(__file__).resolve().parents[1]


def spawn(script: str, *args: str) -> subprocess.Popen:
    """Start ``python -c script args...`` with pipes for stdin/stdout/stderr."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _next_line(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


def _fail(proc: subprocess.Popen, what: str) -> None:
    proc.kill()
    proc.wait(timeout=TIMEOUT)
    pytest.fail(f"child {what}; stderr:\n{proc.stderr.read()}")


def read_line(proc: subprocess.Popen, timeout: float = TIMEOUT) -> str:
    """The child's next line of stdout; fails the test with its stderr if none comes in time."""
    line = _next_line(proc, timeout)
    if not line:
        _fail(proc, "printed nothing")
    return line.strip()


def expect_line(proc: subprocess.Popen, expected: str, timeout: float = TIMEOUT) -> None:
    """Wait for the child to print ``expected`` as its next line of stdout."""
    line = _next_line(proc, timeout)
    if line.strip() != expected:
        _fail(proc, f"printed {line!r} instead of {expected!r}")


def kill(procs: list[subprocess.Popen]) -> None:
    """Make sure no child outlives its test, whatever happened to it."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except BrokenPipeError:
                    pass


#: How long a lock must keep this process waiting to count as held (a free lock is taken at once).
BLOCKED = 0.5


def in_background(work: Callable[[], object]) -> threading.Event:
    """Run ``work`` in a daemon thread of this process; the event is set once it has returned.  With a
    lock in ``work`` that a child holds, the event stays unset until the child lets go or dies."""
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done
