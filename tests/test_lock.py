"""The lock files (`constraints-pyX.Y.txt`, written by `make lock`) pin every package the project
installs, at versions pyproject.toml's ranges allow, and `make` builds the environment from them."""

import sys
from importlib import metadata

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO, RUNNING_LOCK

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there, which became tomllib
    import tomli as tomllib

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOCKS = sorted(REPO.glob("constraints-py*.txt"))


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


def header(lock, key: str) -> str | None:
    """The value of a lock's `# key: value` line (`make lock` writes them), else None."""
    for line in lock.read_text().splitlines():
        if line.startswith(f"# {key}:"):
            return line.partition(":")[2].strip()
    return None


def locked_extras(lock) -> set[str]:
    extras = header(lock, "extras")
    assert extras, f"{lock.name} has no '# extras:' line: run `make lock`"
    unknown = set(extras.split(",")) - set(PROJECT["optional-dependencies"])
    assert not unknown, (f"{lock.name} names extras pyproject.toml does not have: "
                         f"{sorted(unknown)}; rerun `make lock` with EXTRAS from "
                         f"{sorted(PROJECT['optional-dependencies'])}")
    return set(extras.split(","))


def declared_requirements(extras: set[str]) -> list[Requirement]:
    """pyproject.toml's dependencies and those of ``extras`` and of the project's own extras
    they name (test names pipeline), less those self-references."""
    declared = [Requirement(r) for r in PROJECT["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in map(Requirement, PROJECT["optional-dependencies"][extra]):
            if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
                pending += requirement.extras
            else:
                declared.append(requirement)
    return declared


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
    every_extra = declared_requirements(set(PROJECT["optional-dependencies"]))
    covered = declared_requirements(locked_extras(REPO / "constraints-py3.11.txt"))
    assert sorted(map(str, covered)) == sorted(map(str, every_extra))


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_every_declared_requirement_is_pinned_within_its_range(lock):
    pinned = pins(lock)
    for requirement in declared_requirements(locked_extras(lock)):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock.name} does not pin {requirement}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock.name} pins {name}=={pinned[name]}, outside pyproject.toml's "
            f"{requirement}: run `make lock`")


@pytest.mark.parametrize("lock", [lock for lock in LOCKS if header(lock, "under the pins of")],
                         ids=lambda p: p.name)
def test_a_lock_made_under_another_locks_pins_has_its_versions(lock):
    """`make lock FOLLOW=...`: another Python's lock with the committed run's versions, which
    must move when that lock moves."""
    followed = REPO / header(lock, "under the pins of")
    assert followed.exists(), f"{lock.name} follows {followed.name}, which is gone"
    ours, theirs = pins(lock), pins(followed)
    moved = {name: (version, theirs[name]) for name, version in ours.items()
             if name in theirs and theirs[name] != version}
    assert not moved, (f"{lock.name} vs {followed.name}: {moved}; rerun the `make lock` its "
                       "header describes")
    assert locked_extras(lock) <= locked_extras(followed)


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
