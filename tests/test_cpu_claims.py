"""Trainings take turns on the CPUs their BLAS threads need (cpu_claims.py)."""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from mnist_mlp import cpu_claims
from mnist_mlp.cpu_claims import affinity_key, claimed_cpus, cpu_claim
from mnist_mlp.params import ModelParams, TrainParams
from mnist_mlp.splits import Normalization, Split, one_hot
from mnist_mlp.training import train, usable_cpus

from conftest import synthetic_digits

pytestmark = pytest.mark.skipif(cpu_claims.fcntl is None, reason="no flock on this platform")


class Waiter(threading.Thread):
    """``cpu_claim(threads, cpus, lock_dir)`` on a thread, holding it until ``release``."""

    def __init__(self, threads, cpus, lock_dir):
        super().__init__(daemon=True)
        self.args, self.said = (threads, cpus, lock_dir), []
        self.claimed, self.release = threading.Event(), threading.Event()

    def run(self):
        with cpu_claim(*self.args, say=self.said.append) as self.waited:
            self.claimed.set()
            self.release.wait(30)


def started(threads, cpus, lock_dir):
    waiter = Waiter(threads, cpus, lock_dir)
    waiter.start()
    return waiter


def claimed(waiter, seconds=5.0):
    return waiter.claimed.wait(seconds)


def still_waiting(waiter):
    """Not claimed after 0.6 s: a claim that is free takes milliseconds."""
    return not waiter.claimed.wait(0.6)


def finish(*waiters):
    for waiter in waiters:
        waiter.release.set()
        waiter.join(5)


def test_affinity_key_names_the_cpus_as_ranges(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {8, 0, 1, 2, 5, 7}, raising=False)
    assert affinity_key() == "0-2,5,7-8"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert affinity_key() == "3"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(0, 200, 2)), raising=False)
    key = affinity_key()  # too long for a file name part: counted and hashed
    assert key.startswith("100-cpus-") and len(key) == len("100-cpus-") + 8
    monkeypatch.delattr(os, "sched_getaffinity")
    assert affinity_key() == "all"


def test_a_training_claims_a_cpu_per_blas_thread():
    assert claimed_cpus(2, 2) == 2 and claimed_cpus(1, 2) == 1 and claimed_cpus(2, 8) == 2
    assert claimed_cpus(0, 4) == 4   # the BLAS default takes every CPU
    assert claimed_cpus(3, 2) == 2


def test_a_second_training_on_the_same_cpus_waits_for_the_first(tmp_path):
    first = started(2, 2, tmp_path)
    assert claimed(first) and first.waited < 0.5 and first.said == []
    second = started(1, 2, tmp_path)  # one thread, but both CPUs are taken
    assert still_waiting(second)
    assert len(second.said) == 1
    # The holder is this process (another thread): no pid to name.
    assert second.said[0].startswith(
        f"waiting for another training on CPUs {affinity_key()} to finish: ")
    assert "needs 1 of them to itself for its BLAS threads" in second.said[0]
    finish(first)
    assert claimed(second) and second.waited >= 0.5
    finish(second)


def test_one_thread_trainings_share_two_cpus_and_a_third_waits(tmp_path):
    a, b = started(1, 2, tmp_path), started(1, 2, tmp_path)
    assert claimed(a) and claimed(b) and a.said == b.said == []
    c = started(1, 2, tmp_path)
    assert still_waiting(c) and len(c.said) == 1
    finish(b)
    assert claimed(c)
    finish(a, c)


def test_a_waiting_training_never_holds_part_of_what_it_needs(tmp_path):
    """A 2-thread training waiting beside a 1-thread one must leave the free CPU free, or a
    second 1-thread training would wait for nothing."""
    one = started(1, 2, tmp_path)
    assert claimed(one)
    two = started(2, 2, tmp_path)
    assert still_waiting(two)
    other_one = started(1, 2, tmp_path)
    assert claimed(other_one) and other_one.said == []
    finish(one, other_one)
    assert claimed(two)
    finish(two)


def test_different_cpu_sets_do_not_wait_for_each_other(tmp_path, monkeypatch):
    first = started(2, 2, tmp_path)
    assert claimed(first)
    monkeypatch.setattr(cpu_claims, "affinity_key", lambda: "2-3")
    other = started(2, 2, tmp_path)
    assert claimed(other) and other.said == []
    finish(first, other)


def test_without_lock_files_nobody_waits(tmp_path):
    missing = tmp_path / "no such directory"
    with cpu_claim(2, 2, missing) as waited, cpu_claim(2, 2, missing) as waited_again:
        assert waited < 0.5 and waited_again < 0.5
    assert not missing.exists()


HOLDER = """
import sys
from pathlib import Path
from mnist_mlp.cpu_claims import cpu_claim
with cpu_claim(2, 2, Path(sys.argv[1])):
    print("claimed", flush=True)
    sys.stdin.read()
"""


def holder(lock_dir):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_dir)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "claimed\n"
    return process


@pytest.mark.parametrize("end", ["exit", "kill"])
def test_another_process_s_claim_names_it_and_ends_with_it(tmp_path, end):
    process = holder(tmp_path)
    waiter = started(2, 2, tmp_path)
    assert still_waiting(waiter)
    assert f"CPUs {affinity_key()} (pid {process.pid}) to finish" in waiter.said[0]
    if end == "exit":
        process.stdin.close()
    else:  # a lock goes with its process, however that ends
        process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert claimed(waiter)
    finish(waiter)


def test_train_waits_for_the_cpus_unless_told_not_to(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where train's claims go
    pixels, labels = synthetic_digits(200, 1)
    data = Split(Normalization().apply(pixels), labels)
    args = (ModelParams(hidden=[8]), TrainParams(epochs=1, batch_size=50, threads=1),
            data, one_hot(data.y), data, one_hot(data.y))
    results = []
    with cpu_claim(0, usable_cpus()):  # every CPU taken
        assert train(*args, wait_for_cpus=False).history
        trainer = threading.Thread(target=lambda: results.append(train(*args)), daemon=True)
        trainer.start()
        time.sleep(0.6)
        assert trainer.is_alive() and not results
    trainer.join(30)
    assert results and results[0].history
    assert "waiting for another training on CPUs" in capsys.readouterr().err
