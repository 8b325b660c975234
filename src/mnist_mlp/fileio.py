"""File I/O shared by the stages: atomic writes and pickle-free ``.npz`` reads.

Writes go to a temporary file beside the target, then rename over it: a stage that is
interrupted or fails never leaves a half-written output, and an earlier output at the same path
stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def write_json(path: str | Path, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` atomically (uncompressed: these arrays are read far more often than moved)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())


NPZ_MAGIC = b"PK\x03\x04"


def read_head(path: str | Path, size: int, error: type[UserError], hint: str = "") -> bytes:
    """The first ``size`` bytes of a file; a missing or unreadable file raises ``error``."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except FileNotFoundError:
        raise error(f"{path}: file not found" + (f" ({hint})" if hint else "")) from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_npz(path: str | Path, error: type[UserError], keys: tuple[str, ...] | None = None
             ) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (default: all) of an ``.npz`` file, never unpickling.

    Any problem, including a missing key, raises ``error`` with one readable sentence.
    """
    if read_head(path, 4, error, "run the stage that writes it") != NPZ_MAGIC:
        raise error(f"{path}: not an .npz file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys or () if k not in npz.files]
            if missing:
                raise error(f"{path}: missing array(s) {missing}; rerun the stage that writes it")
            return {key: npz[key] for key in (keys or npz.files)}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise error(f"{path}: holds Python objects (a pickle payload); refused, only "
                        "numeric and text arrays are read") from None
        raise error(f"{path}: not a valid .npz file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise error(f"{path}: not a readable .npz file ({exc})") from None
