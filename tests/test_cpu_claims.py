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


def claimed_soon(waiter, seconds=0.6):
    return waiter.claimed.wait(seconds)


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
    first = Waiter(2, 2, tmp_path)
    first.start()
    assert claimed_soon(first) and first.waited < 0.5 and first.said == []
    second = Waiter(1, 2, tmp_path)  # one thread, but both CPUs are taken
    second.start()
    assert not claimed_soon(second)
    assert len(second.said) == 1
    assert second.said[0].startswith(f"waiting for another training on CPUs {affinity_key()}")
    assert "needs 1 of them to itself for its BLAS threads" in second.said[0]
    first.release.set()
    assert claimed_soon(second, 5) and second.waited >= 0.5
    second.release.set()
    second.join(5)


def test_one_thread_trainings_share_two_cpus_and_a_third_waits(tmp_path):
    a, b, c = (Waiter(1, 2, tmp_path) for _ in range(3))
    a.start()
    b.start()
    assert claimed_soon(a) and claimed_soon(b) and a.said == b.said == []
    c.start()
    assert not claimed_soon(c) and len(c.said) == 1
    b.release.set()
    assert claimed_soon(c, 5)
    for waiter in (a, c):
        waiter.release.set()
        waiter.join(5)


def test_a_waiting_training_never_holds_part_of_what_it_needs(tmp_path):
    """A 2-thread training waiting beside a 1-thread one must leave the free CPU free, or a
    second 1-thread training would wait for nothing."""
    one = Waiter(1, 2, tmp_path)
    one.start()
    assert claimed_soon(one)
    two = Waiter(2, 2, tmp_path)
    two.start()
    assert not claimed_soon(two)
    other_one = Waiter(1, 2, tmp_path)
    other_one.start()
    assert claimed_soon(other_one) and other_one.said == []
    for waiter in (one, other_one):
        waiter.release.set()
        waiter.join(5)
    assert claimed_soon(two, 5)
    two.release.set()
    two.join(5)


def test_different_cpu_sets_do_not_wait_for_each_other(tmp_path, monkeypatch):
    first = Waiter(2, 2, tmp_path)
    first.start()
    assert claimed_soon(first)
    monkeypatch.setattr(cpu_claims, "affinity_key", lambda: "2-3")
    other = Waiter(2, 2, tmp_path)
    other.start()
    assert claimed_soon(other) and other.said == []
    for waiter in (first, other):
        waiter.release.set()
        waiter.join(5)


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
    waiter = Waiter(2, 2, tmp_path)
    waiter.start()
    assert not claimed_soon(waiter)
    assert f"CPUs {affinity_key()} (pid {process.pid}) to finish" in waiter.said[0]
    if end == "exit":
        process.stdin.close()
    else:  # a lock goes with its process, however that ends
        process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert claimed_soon(waiter, 5)
    waiter.release.set()
    waiter.join(5)


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
