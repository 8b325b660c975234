"""Where numba keeps the compiled loops' machine code: one place per environment, shared by
every copy of this package that runs in it.

numba's own places depend on where the source file is: the ``__pycache__`` beside it, or, under
``NUMBA_CACHE_DIR``, a directory named by a hash of its path. So each copy of the package
compiled the loops afresh: every queued ``dvc exp run`` (DVC runs it in a temporary copy of
the repository) and every test that copies the repository, ~3 s per training process
(benchmarks/startup.py). numba checks a cached entry against a hash of the source file's
content and against the CPU, never against its path, so copies of one file can share entries.
The directory is named by that content hash too, so copies with different code (the queued
experiments of two commits) never replace each other's entries.

As in numba's own places, two processes that save different signatures of one loop at the same
moment can leave an entry naming the other's machine code; numba then raises ``TypeError:
can't unbox array`` on that signature until the directory is removed. Training passes float32
arrays only, so only the tests' float64 checks compile a second signature.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
from collections.abc import Callable, Iterator

from numba.core import caching, config

#: Under the environment, so that it goes with it (``make clean-venv``); ``NUMBA_CACHE_DIR``
#: takes its place where set.
ROOT = os.path.join(sys.prefix, "var", "cache", "mnist-mlp", "numba")


class SharedCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba's cache locator for a source file: ``ROOT/<module>-<hash of its content>``.
    Where that directory cannot be written, numba goes on to its own locators."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        module = os.path.splitext(os.path.basename(py_file))[0]
        self._cache_path = os.path.join(config.CACHE_DIR or ROOT,
                                        f"{module}-{content_digest(py_file)}")

    def get_cache_path(self):
        return self._cache_path


@functools.cache
def content_digest(path: str) -> str:
    """The start of the file's sha256: read once per process, not once per loop in it."""
    with open(path, "rb") as source:
        return hashlib.sha256(source.read()).hexdigest()[:16]


def cached(decorator: Callable[[bool], Callable], function):
    """``decorator(cache)(function)``: with numba's on-disk cache, in the shared place, or
    without it where numba finds no writable cache directory (it raises RuntimeError when
    decorating): compiled in each process then."""
    try:
        with shared():
            return decorator(True)(function)
    except RuntimeError:
        return decorator(False)(function)


@contextlib.contextmanager
def shared() -> Iterator[None]:
    """numba's decorators with ``cache=True`` inside this block look for the cache with
    ``SharedCacheLocator`` first, then where numba would. A ``NUMBA_CACHE_LOCATOR_CLASSES`` of
    the user's own is left to decide, as is a numba too old to have that setting."""
    if getattr(config, "CACHE_LOCATOR_CLASSES", None) != "":
        yield
        return
    numba_own = ",".join(locator.__name__ for locator in caching.CacheImpl._locator_classes)
    config.CACHE_LOCATOR_CLASSES = f"{__name__}.{SharedCacheLocator.__name__},{numba_own}"
    try:
        yield
    finally:
        config.CACHE_LOCATOR_CLASSES = ""
