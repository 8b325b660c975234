"""The lock files (`constraints-pyX.Y.txt`, written by `make lock`) pin every package the project
installs, at versions pyproject.toml's ranges allow, and `make` builds the environment from them."""

import sys
import tomllib
from importlib import metadata

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOCKS = sorted(REPO.glob("constraints-py*.txt"))
RUNNING_LOCK = REPO / f"constraints-py{sys.version_info[0]}.{sys.version_info[1]}.txt"


def pins(lock) -> dict[str, str]:
    """{canonical name: version} of a lock file's `name==version` lines."""
    pinned = {}
    for number, line in enumerate(lock.read_text().splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        name, sep, version = line.partition("==")
        assert sep and version.strip(), f"{lock.name}:{number}: not name==version: {line!r}"
        pinned[canonicalize_name(name)] = version.strip()
    return pinned


def declared_requirements() -> list[Requirement]:
    """pyproject.toml's dependencies and every extra's, less the project's own extras."""
    declared = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in PROJECT["optional-dependencies"].values():
        declared += [Requirement(r) for r in extra]
    return [r for r in declared if canonicalize_name(r.name) != canonicalize_name(PROJECT["name"])]


def installed_closure(extras: set[str]) -> set[str]:
    """Canonical names of the installed distributions this project with `extras` pulls in."""
    environment = default_environment()
    names: set[str] = set()
    visited: set[tuple[str, str]] = set()
    pending = [(PROJECT["name"], extra) for extra in extras | {""}]
    while pending:
        name, extra = pending.pop()
        if (canonicalize_name(name), extra) in visited:
            continue
        visited.add((canonicalize_name(name), extra))
        for text in metadata.distribution(name).requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(
                    {**environment, "extra": extra}):
                continue
            if canonicalize_name(requirement.name) != canonicalize_name(PROJECT["name"]):
                names.add(canonicalize_name(requirement.name))
            pending += [(requirement.name, e) for e in requirement.extras | {""}]
    return names


def test_a_lock_exists_for_the_python_of_the_machines_here():
    assert (REPO / "constraints-py3.11.txt") in LOCKS


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_every_declared_requirement_is_pinned_within_its_range(lock):
    pinned = pins(lock)
    for requirement in declared_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock.name} does not pin {requirement}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock.name} pins {name}=={pinned[name]}, outside pyproject.toml's "
            f"{requirement}: run `make lock`")


@pytest.mark.skipif(not RUNNING_LOCK.exists(), reason=f"no {RUNNING_LOCK.name}")
def test_the_lock_pins_everything_the_test_environment_pulls_in():
    missing = installed_closure({"test"}) - pins(RUNNING_LOCK).keys()
    assert not missing, f"{RUNNING_LOCK.name} does not pin {sorted(missing)}: run `make lock`"


@pytest.mark.skipif(not (REPO / ".venv/.installed").exists()
                    or sys.prefix != str(REPO / ".venv") or not RUNNING_LOCK.exists(),
                    reason="runs in the environment `make` built from a lock")
def test_make_installed_the_locked_versions():
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    drift = {name: (installed[name], version) for name, version in pins(RUNNING_LOCK).items()
             if name in installed and installed[name].split("+")[0] != version}
    assert not drift, f"installed vs locked: {drift}"
