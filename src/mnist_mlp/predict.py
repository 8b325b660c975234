"""Predict digits in images (PNG, JPEG, …) or CSV rows with a trained model file; rows with a
label column are also scored against it.

An image is read by ``images`` (a grayscale array), its ink found on the paper by ``paper``,
and its digits brought into MNIST's form by ``digits``, one MNIST-style image per digit of a
number, left to right.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .digits import to_mnist, to_mnist_digits
from .errors import DataError, ModelFileError, UserError
from .images import ImageError, is_image, load_image
from .mnist_csv import read_pixel_csv
from .nn import load_model
from .splits import Normalization

#: The input that stands for standard input, as with most command-line tools (a file named
#: ``-`` is ``./-``), and the name its predictions and errors go by.
STDIN, STDIN_NAME = "-", "<stdin>"

#: A URL's scheme and ``//`` (two letters at least: ``C://`` is a Windows drive).
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")


@dataclass
class Prediction:
    source: str
    digit: int
    probabilities: np.ndarray  # (10,)
    #: The true digit, for a row of a CSV with a label column.
    label: int | None = None
    #: (image, place from 1, digits) when this is one digit of a number in an image.
    of_number: tuple[str, int, int] | None = None

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(d), float(self.probabilities[d])) for d in order]

    def to_dict(self) -> dict:
        labelled = {} if self.label is None else {"label": self.label}
        return {"input": self.source, "digit": self.digit, **labelled,
                "top3": [{"digit": d, "probability": round(p, 6)} for d, p in self.top()]}

    def __str__(self) -> str:
        ranked = ", ".join(f"{d} {p:.1%}" for d, p in self.top())
        labelled = "" if self.label is None else \
            f", label {self.label}{'' if self.label == self.digit else ' (wrong)'}"
        return f"{self.source}: {self.digit} ({ranked}){labelled}"


def labelled_accuracy(predictions: list[Prediction]) -> tuple[int, int]:
    """(correct, labelled) over the predictions whose true digit is known."""
    labelled = [p for p in predictions if p.label is not None]
    return sum(p.digit == p.label for p in labelled), len(labelled)


def input_files(paths: list[str], failures: list[UserError]) -> list[str]:
    """``paths`` with each directory replaced by the images and CSV files in it and in its
    subdirectories, by path, hidden ones (``.thumbnails/``) left out; a directory with none,
    one that cannot be read, and a URL add an error to ``failures``. Symbolic links to
    directories are followed, each directory read once (a link back up the tree is no loop).
    ``STDIN`` stays, once: standard input can be read once."""
    readable = {ext for ext, kind in Image.registered_extensions().items()
                if kind in Image.OPEN} | {".csv"}
    files = []
    for path in paths:
        if path == STDIN:
            if STDIN in files:
                failures.append(UserError(f"{STDIN_NAME}: '-' given twice; standard input "
                                          f"is read once"))
            else:
                files.append(path)
            continue
        if URL.match(path) and not os.path.lexists(path):
            # Path() would read "https://x/d.png" as the file https:/x/d.png, not found.
            url = urllib.parse.urlsplit(path)
            where = f"give the file's path ({urllib.request.url2pathname(url.path)})" \
                if url.scheme.lower() == "file" else "download it first"
            failures.append(ImageError(f"{path}: a URL; predict reads files on this "
                                       f"machine: {where}"))
            continue
        if not Path(path).is_dir():
            files.append(path)
            continue
        found, unreadable, walked = [], [], set()
        # os.walk skips a directory it cannot list unless told; each is an error of its own.
        for root, subdirectories, names in os.walk(path, onerror=unreadable.append,
                                                   followlinks=True):
            real = os.path.realpath(root)
            if real in walked:  # reached before by another way
                subdirectories.clear()
                continue
            walked.add(real)
            # Of two ways to one directory, take the same each time: the real directories
            # of a folder before its links, by name.
            subdirectories[:] = sorted(
                (d for d in subdirectories if not d.startswith(".")),
                key=lambda d: (os.path.islink(os.path.join(root, d)), d))
            found += [str(Path(root, name)) for name in names if not name.startswith(".")
                      and Path(name).suffix.lower() in readable]
        failures += [ImageError(f"{exc.filename}: a directory that cannot be read "
                                f"({exc.strerror})") for exc in unreadable]
        if not found and not unreadable:
            failures.append(ImageError(f"{path}: a directory with no image or CSV files in it "
                                       f"or under it"))
        files += sorted(found)
    return files


def read_stdin() -> bytes:
    """All of standard input: an image or CSV text piped in (``STDIN``)."""
    if sys.stdin is None or sys.stdin.isatty():  # None: started with standard input closed
        what = "closed" if sys.stdin is None else "a terminal, not an image or CSV"
        raise UserError(f"{STDIN_NAME}: {what}; pipe one in (predict - < digit.png)")
    data = sys.stdin.buffer.read()
    if not data:
        raise UserError(f"{STDIN_NAME}: nothing was piped in")
    return data


def stdin_csv(data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """``read_pixel_csv`` of piped-in data that is not an image: its error says both."""
    try:
        return read_pixel_csv(STDIN_NAME, data)
    except DataError as exc:
        detail = str(exc).removeprefix(f"{STDIN_NAME}: ")
        raise ImageError(f"{STDIN_NAME}: not an image Pillow reads, nor CSV rows: "
                         f"{detail}") from None


def model_reading(model_path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """The model file's reading: MNIST-style images (n, 784) -> its probabilities (n, 10),
    normalized as its training data was (the model's info records how)."""
    model, info = load_model(model_path)
    try:
        norm = Normalization(**info.get("normalization", {}))
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{model_path}: unreadable 'normalization' in the model's info "
                             f"({exc})") from None

    def read(fields: np.ndarray) -> np.ndarray:
        return model.predict_proba(norm.apply(fields))

    return read


def folder_label(path: str) -> int:
    """The digit an image's folder is named, as in a folder per class (mnist_png's
    ``testing/7/…``)."""
    if path == STDIN:
        raise ImageError(f"{STDIN_NAME}: piped in, not in a folder, so it has no label "
                         f"(--folder-labels)")
    folder = Path(path).absolute().parent.name
    if len(folder) != 1 or folder not in "0123456789":
        raise ImageError(f"{path}: not in a folder named 0 to 9, so it has no label "
                         f"(--folder-labels)")
    return int(folder)


def predict_files(paths: list[str], model_path: str | Path, *, one_digit: bool = False,
                  folder_labels: bool = False, only_csv: bool = False
                  ) -> tuple[list[Prediction], list[UserError]]:
    """Predictions for image files (one per digit of a number, left to right, named
    ``path:digitN``), CSV files (one per row, ``path:rowN``), the images and CSV files in
    and under directories and an image or CSV piped in (``STDIN``, named ``STDIN_NAME``), in
    input order, and the error of each input that could not be read: one bad file does not
    cost the others theirs. With ``one_digit``, each image is read as one digit; with
    ``folder_labels``, too, and labelled by its folder's name (``folder_label``); with
    ``only_csv``, every input is read as CSV rows (``--kaggle``'s test.csv, perhaps piped
    in), whatever its name or content."""
    read = model_reading(model_path)
    sources, pixels, labels, numbers, failures = [], [], [], [], []
    for path in input_files(paths, failures):
        try:
            of_number = None
            data = read_stdin() if path == STDIN else None
            name = STDIN_NAME if path == STDIN else str(path)
            # Piped data that is no image is taken for CSV; stdin_csv's error then says both.
            guessed_csv = data is not None and not only_csv and not is_image(data)
            if only_csv or guessed_csv or data is None and name.lower().endswith(".csv"):
                rows, row_labels = stdin_csv(data) if guessed_csv else read_pixel_csv(name, data)
                names = [f"{name}:row{i + 1}" for i in range(len(rows))]
            elif one_digit or folder_labels:
                row_labels = [folder_label(path)] if folder_labels else None
                rows, names = to_mnist(load_image(name, data), name)[np.newaxis], [name]
            else:
                rows, row_labels = to_mnist_digits(load_image(name, data), name, read), None
                names = [name]
                if len(rows) > 1:
                    names = [f"{name}:digit{i + 1}" for i in range(len(rows))]
                    of_number = [(name, i + 1, len(rows)) for i in range(len(rows))]
        except UserError as exc:
            failures.append(exc)
            continue
        sources += names
        pixels.append(rows)
        labels += [None] * len(rows) if row_labels is None else [int(y) for y in row_labels]
        numbers += of_number or [None] * len(rows)
    if not pixels:
        return [], failures
    probabilities = read(np.concatenate(pixels))
    return [Prediction(source, int(p.argmax()), p, label, number)
            for source, p, label, number in zip(sources, probabilities, labels, numbers)
            ], failures
