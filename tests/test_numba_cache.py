"""numba's cache of the compiled loops is shared by copies of the package (a queued experiment
runs in a temporary copy of the repository), keyed by the source file's content."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numba
import numpy as np
import pytest
from numba.core import config

from conftest import REPO
from mnist_mlp.nn import numba_cache

CALL_SGD = """
import json
import numpy as np
from mnist_mlp.nn import compiled
loops = compiled.kernels()
param, grad = np.ones(10, np.float32), np.ones(10, np.float32)
loops.sgd(param, grad, np.float32(0.1))
stats = loops.sgd.stats
print(json.dumps([loops.__file__, len(stats.cache_hits), len(stats.cache_misses),
                  stats.cache_path]))
"""


def run_copy(copy, cache):
    env = {**os.environ, "PYTHONPATH": str(copy), "NUMBA_CACHE_DIR": str(cache)}
    env.pop("NUMBA_CACHE_LOCATOR_CLASSES", None)
    done = subprocess.run([sys.executable, "-c", CALL_SGD], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def copy_package(destination):
    shutil.copytree(REPO / "src" / "mnist_mlp", destination / "mnist_mlp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def test_a_copy_of_the_package_loads_the_loops_another_copy_compiled(tmp_path):
    cache = tmp_path / "cache"
    first, second, changed = (copy_package(tmp_path / name) for name in ("a", "b", "c"))
    with open(changed / "mnist_mlp/nn/kernels.py", "a") as source:
        source.write("\n# another version of the loops\n")

    file, hits, misses, path = run_copy(first, cache)
    assert file.startswith(str(first)) and (hits, misses) == (0, 1)
    assert path.startswith(str(cache))
    file, hits, misses, shared_path = run_copy(second, cache)
    assert file.startswith(str(second)) and (hits, misses) == (1, 0)
    assert shared_path == path
    # Other code never takes the entries of the first: a directory of its own.
    file, hits, misses, other_path = run_copy(changed, cache)
    assert (hits, misses) == (0, 1) and other_path != path
    assert run_copy(first, cache)[1:3] == [1, 0]


def loop_in_a_file(tmp_path):
    """A function numba can cache: one defined in a source file of its own."""
    path = tmp_path / "loops_under_test.py"
    path.write_text("def double(x):\n    return x * 2\n")
    spec = importlib.util.spec_from_file_location("loops_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.double


@pytest.fixture
def numba_defaults(monkeypatch):
    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setattr(config, "CACHE_LOCATOR_CLASSES", "")


def test_an_unwritable_shared_directory_leaves_the_cache_where_numba_puts_it(
        tmp_path, monkeypatch, numba_defaults):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setattr(numba_cache, "ROOT", str(blocker / "cache"))
    with numba_cache.shared():
        double = numba.njit(cache=True)(loop_in_a_file(tmp_path))
    assert double(np.float32(1.5)) == 3.0
    assert double.stats.cache_path == str(tmp_path / "__pycache__")
    assert config.CACHE_LOCATOR_CLASSES == ""  # as it was, after the block


def test_the_shared_directory_is_keyed_by_the_file_content(
        tmp_path, monkeypatch, numba_defaults):
    monkeypatch.setattr(numba_cache, "ROOT", str(tmp_path / "cache"))
    with numba_cache.shared():
        double = numba.njit(cache=True)(loop_in_a_file(tmp_path))
    assert double(np.float32(1.5)) == 3.0
    assert os.path.dirname(double.stats.cache_path) == str(tmp_path / "cache")
    assert os.path.basename(double.stats.cache_path).startswith("loops_under_test-")


def test_a_locator_setting_of_the_users_own_decides(tmp_path, monkeypatch, numba_defaults):
    monkeypatch.setattr(config, "CACHE_LOCATOR_CLASSES", "InTreeCacheLocator")
    monkeypatch.setattr(numba_cache, "ROOT", str(tmp_path / "cache"))
    with numba_cache.shared():
        double = numba.njit(cache=True)(loop_in_a_file(tmp_path))
    assert double(np.float32(1.5)) == 3.0
    assert double.stats.cache_path == str(tmp_path / "__pycache__")
    assert config.CACHE_LOCATOR_CLASSES == "InTreeCacheLocator"


def test_cached_decorates_with_the_on_disk_cache_and_without_it_where_numba_refuses():
    """``cached`` runs as kernels.py is imported, before any test: here with a decorator that
    records what it is given, and one that refuses the cache as numba does where no cache
    directory can be written (RuntimeError)."""
    def loop():
        pass

    def recording(cache):
        return lambda function: ("compiled", cache, function)

    def refusing_the_cache(cache):
        if cache:
            raise RuntimeError("cannot cache function 'loop': no locator available")
        return recording(cache)

    assert numba_cache.cached(recording, loop) == ("compiled", True, loop)
    assert numba_cache.cached(refusing_the_cache, loop) == ("compiled", False, loop)
