"""Trainings take turns on CPUs they would otherwise share.

OpenBLAS's threads wait for each other by spinning, so two trainings whose BLAS threads share
CPUs stall each other's every product: on the 2-CPU EPYC (2026-12-07) two default trainings
started together took 5.6-9.9 s per epoch each against 1.1-1.2 s for one alone: 16.1 and 16.4 s
for two epochs each, where one alone took 3.2 s and, with claims, the second 6.2 s from its
start, waiting for the first included. So a training claims one CPU per BLAS thread for as long
as it trains, and waits, saying so, while fewer are free. The claims are file locks (``flock``),
one file per CPU in the temporary directory, seen by every process on the machine with the same
CPUs (a ``dvc exp run -j 2`` queue, two checkouts, notebooks); a lock goes with its process,
however that ends. Where ``flock`` does not exist (Windows), nobody waits.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

#: How often a waiting training tries the CPUs' locks again.
POLL_SECONDS = 0.2


def affinity_key() -> str:
    """The CPUs this process may run on as ranges ("0-1", "0-3,8-11"), or "all" where the OS
    keeps no affinity mask; processes with the same key contend for the same CPUs."""
    if not hasattr(os, "sched_getaffinity"):
        return "all"
    cpus = sorted(os.sched_getaffinity(0))
    ranges, start = [], None
    for i, cpu in enumerate(cpus):
        start = cpu if start is None else start
        if i + 1 == len(cpus) or cpus[i + 1] != cpu + 1:
            ranges.append(f"{start}-{cpu}" if cpu > start else str(start))
            start = None
    key = ",".join(ranges)
    return key if len(key) <= 64 else f"{len(cpus)}-cpus-{zlib.crc32(key.encode()):08x}"


def claimed_cpus(threads: int, cpus: int) -> int:
    """The CPUs a training on ``threads`` BLAS threads (0: the BLAS default, every CPU)
    claims of the ``cpus`` it may use."""
    return min(threads, cpus) if threads else cpus


def _open_lock(path: Path) -> int | None:
    """A descriptor ``flock`` can lock (another user's file opens read-only), or None."""
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            return os.open(path, flags, 0o666)
        except OSError:
            continue
    return None


def _holders(fds: list[int]) -> str:
    """" (pid N, M)": the live processes that last wrote their pids into these files."""
    pids = []
    for fd in fds:
        try:
            pid = int(os.pread(fd, 32, 0).decode().strip())
            os.kill(pid, 0)
        except PermissionError:  # alive, another user's
            pass
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if pid != os.getpid() and pid not in pids:
            pids.append(pid)
    return f" (pid {', '.join(map(str, pids))})" if pids else ""


def _claim(paths: list[Path], opened: dict[int, int | None], count: int) -> list[int] | None:
    """``count`` of the lock files at ``paths`` locked, all or none (so two waiting trainings
    never hold a part each), trying them in order; files are opened (into ``opened``, by
    index) only as far as that needs."""
    held = []
    for i, path in enumerate(paths):
        if i not in opened:
            opened[i] = _open_lock(path)
        if opened[i] is None:
            continue
        try:
            fcntl.flock(opened[i], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        held.append(opened[i])
        if len(held) == count:
            return held
    for fd in held:
        fcntl.flock(fd, fcntl.LOCK_UN)
    return None if count else []


@contextlib.contextmanager
def cpu_claim(threads: int, cpus: int, lock_dir: Path | None = None,
              say: Callable[[str], None] | None = None) -> Iterator[float]:
    """Hold ``claimed_cpus(threads, cpus)`` of this process's ``cpus`` CPUs inside the block,
    waiting while fewer are free; yields the seconds waited. ``say`` (default: a line on
    standard error) is told once when waiting starts. Where no lock file can be opened, the
    block runs without a claim."""
    if fcntl is None:
        yield 0.0
        return
    say = say or (lambda message: print(message, file=sys.stderr, flush=True))
    lock_dir = Path(tempfile.gettempdir()) if lock_dir is None else lock_dir
    key = affinity_key()
    paths = [lock_dir / f"mnist-mlp-cpus-{key}-cpu{i}.lock" for i in range(cpus)]
    opened: dict[int, int | None] = {}
    count = claimed_cpus(threads, cpus)
    start = time.monotonic()
    try:
        held = _claim(paths, opened, count)
        usable = sum(fd is not None for fd in opened.values())
        if held is None and usable < count:  # lock files that cannot be opened claim nothing
            count = usable
            held = _claim(paths, opened, count)
        if held is None:
            fds = [fd for fd in opened.values() if fd is not None]
            say(f"waiting for another training on CPUs {key}{_holders(fds)} to finish: this one "
                f"needs {count} of them to itself for its BLAS threads (trainings that share "
                "CPUs stall each other)")
        while held is None:
            time.sleep(POLL_SECONDS)
            held = _claim(paths, opened, count)
        for fd in held:
            with contextlib.suppress(OSError):  # a read-only descriptor keeps the old pid
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield time.monotonic() - start
    finally:
        for fd in opened.values():
            if fd is not None:
                os.close(fd)  # closing releases the lock
