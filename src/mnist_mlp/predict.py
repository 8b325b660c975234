"""Predict digits in images (PNG, JPEG, …) or CSV rows with a trained model file; rows with a
label column are also scored against it.

Images are brought into MNIST's form, as LeCun et al. built the data set: grayscale, white digit
on black, the digit's bounding box scaled (aspect kept) to fit 20x20, then placed in a 28x28
field so that its centre of mass is at the centre. Photos first lose what is not ink: a desk
around the sheet (``sheet_of_paper``) or along sides of the photo (``desk_along_sides``), the
paper's own level, shadows and vignettes included (``paper_level``), its noise
(``noise_floor``), the lines of ruled or grid paper (``take_out_ruled_lines``) and specks away
from the digit (``digit_box``); a pen's thin strokes are widened and a marker's bold ones
thinned to MNIST's (``with_mnist_strokes``). A number written left to right is read digit
by digit (``digit_columns``; digits written closer are parted where the model reads the pieces
as digits, ``close_digits``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy.ndimage import (binary_dilation, binary_erosion, binary_fill_holes, center_of_mass,
                           find_objects, grey_dilation, grey_erosion, label, sum_labels)
from scipy.spatial import ConvexHull

from .errors import ModelFileError, UserError
from .mnist_csv import read_pixel_csv
from .nn import load_model
from .ruled_lines import take_out_ruled_lines
from .splits import Normalization

try:  # HEIC/HEIF, what iPhones save photos as, through libheif (~40 ms to import)
    from pillow_heif import register_heif_opener
except ImportError:  # a broken install: such photos then read as unreadable images
    pass
else:
    register_heif_opener()

SIDE, BOX = 28, 20
#: The shorter side, in pixels, of the copy on which a desk around the paper is looked for:
#: ink strokes still show at that size (sheet_of_paper), and a 48-megapixel photo took 1.9 s
#: to search at full size.
PREVIEW_SIDE = 512


class ImageError(UserError):
    """An input image that cannot be read or holds no digit."""


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


#: Pillow's modes for 16-bit grayscale. ``convert("L")`` clips their values at 255 instead of
#: scaling them, so a 16-bit scan would read as all white: they are scaled from 0..65535 here.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def load_image(path: str | Path) -> np.ndarray:
    """Any image Pillow reads -> float grayscale (h, w) in [0, 1]; transparency becomes white."""
    try:
        # Pillow warns above MAX_IMAGE_PIXELS (~89 Mpx) and refuses twice that, as a guard
        # against decompression bombs: both are one clear error here.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                decode_reduced(img)
                img.load()
                # A phone stores a photo as its sensor saw it, with an EXIF tag saying how to
                # turn it for display: turned that way, the digit stands upright. In place: an
                # image without the tag is then not copied.
                ImageOps.exif_transpose(img, in_place=True)
                gray = image_gray(img, path)
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: too large an image ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from None
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"{path}: empty image")
    return gray


#: The longer side down to which large images are read: one with a longer side of at least
#: twice this is read at half, a quarter or an eighth of its size, staying at least this large
#: (``reduction_factor``). A digit needs far fewer pixels than a phone's camera takes, and
#: every pass after the decode grows with the pixel count (docs/predict.md).
DECODE_SIDE = 3000


def reduction_factor(size: tuple[int, int]) -> int:
    """1, 2, 4 or 8: the largest that keeps the longer side of ``size`` at ``DECODE_SIDE``
    or more, divided as Pillow divides (rounding up)."""
    factor = 1
    while factor < 8 and math.ceil(max(size) / (2 * factor)) >= DECODE_SIDE:
        factor *= 2
    return factor


def decode_reduced(img: Image.Image) -> None:
    """Have a JPEG decode at ``reduction_factor``'s scale (Pillow's draft mode, in which the
    JPEG decoder scales while it decodes: less time and memory than reducing afterwards).
    Pillow's other formats ignore a draft; an MPO (a camera's multi-picture JPEG) takes it."""
    factor = reduction_factor(img.size)
    if factor > 1:
        img.draft(img.mode, (math.ceil(img.size[0] / factor), math.ceil(img.size[1] / factor)))


def reduced(img: Image.Image) -> Image.Image:
    """``img`` averaged over square boxes ``reduction_factor`` pixels a side (Pillow's
    ``reduce``), for what was decoded whole: PNG, HEIC and the others."""
    factor = reduction_factor(img.size)
    return img.reduce(factor) if factor > 1 else img


def image_gray(img: Image.Image, path: str | Path) -> np.ndarray:
    """A loaded Pillow image in any mode -> float grayscale in [0, 1] (see ``load_image``)."""
    if img.mode in SIXTEEN_BIT_MODES + ("I", "F"):
        values = np.asarray(img, dtype=np.float32)
        gray = np.clip(values / 65535, 0, 1) if img.mode in SIXTEEN_BIT_MODES \
            else wide_gray(values, img.mode, path)
        # A 16-bit PNG's tRNS names one transparent gray value: white paper, as below.
        if isinstance(img.info.get("transparency"), (int, float)):
            gray[values == img.info["transparency"]] = 1
        return np.array(reduced(Image.fromarray(gray)))  # a copy: Pillow's arrays are read-only
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(canvas, rgba)
    return np.asarray(reduced(img.convert("L")), dtype=np.float32) / 255


def wide_gray(values: np.ndarray, mode: str, path: str | Path) -> np.ndarray:
    """Pillow's 32-bit modes -> [0, 1], by the range their values lie in. Floats ("F") come in
    0..1 or 0..255, integers ("I") in 0..255 or 0..65535 (some Pillow versions open 16-bit
    PNGs so); an image within the smaller range would be black in the larger one, so it is
    taken as the smaller. ``convert("L")`` would read 0..1 as black and clip 0..65535."""
    if not np.isfinite(values).all():
        raise ImageError(f"{path}: not a readable image (NaN or infinite pixel values)")
    small, large = (1, 255) if mode == "F" else (255, 65535)
    return np.clip(values / (small if values.max(initial=0) <= small else large), 0, 1)


def to_mnist(gray: np.ndarray, source: str = "image") -> np.ndarray:
    """Grayscale (h, w) in [0, 1] -> MNIST-style uint8 (784,): white digit centred on black.
    The image is taken as one digit (``to_mnist_digits`` reads a number's digits)."""
    ink = digit_ink(gray, source)
    return mnist_field(ink[digit_box(ink)])


def to_mnist_digits(gray: np.ndarray, source: str = "image",
                    read: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Grayscale (h, w) in [0, 1] -> MNIST-style uint8 (n, 784): the digits of a number
    written left to right (``digit_columns``), each as ``to_mnist`` makes one; for a single
    digit, ``to_mnist``'s image alone. With ``read`` (MNIST-style images (n, 784) -> the
    model's probabilities (n, 10)), digits closer than ``digit_columns`` parts them are parted
    too, where the model reads the pieces better (``close_digits``)."""
    ink = digit_ink(gray, source)
    preview = shrunk(ink, PREVIEW_SIDE)  # shared: a 48-MP photo's took ~0.1 s to make
    whole = slice(0, preview.shape[1])
    fields = {}  # columns of the preview -> the MNIST image of the ink in them

    def field(cols: slice) -> np.ndarray:
        if (cols.start, cols.stop) not in fields:
            if cols == whole:  # one digit: as to_mnist makes it
                fields[cols.start, cols.stop] = mnist_field(ink[digit_box(ink, preview)])
            else:
                crop = ink[digit_box(ink, preview, cols)]
                fields[cols.start, cols.stop] = mnist_field(crop / crop.max())  # as dark as MNIST
        return fields[cols.start, cols.stop]

    columns = digit_columns(preview) or [whole]
    if read is not None:
        columns = [digit for cols in columns for digit in close_digits(preview, cols, field, read)]
    return np.stack([field(cols) for cols in columns])


def digit_ink(gray: np.ndarray, source: str) -> np.ndarray:
    """Grayscale (h, w) in [0, 1] -> the ink alone, bright on 0, max 1: without the desk, the
    paper's level, its noise and its printed lines. Raises ``ImageError`` if there is none."""
    edge = float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    preview = shrunk(gray, PREVIEW_SIDE)  # where the desk is looked for
    small = shrunk(preview)  # its extremes are the ink's, not single noisy pixels'
    desk = None  # where the photo shows the desk, not the paper: left out of everything below
    if edge - small.min() > small.max() - edge:  # ink darker than the paper: to MNIST's polarity
        gray = 1 - gray
        desk = desk_along_sides(1 - preview, gray.shape)
    else:
        sheet = sheet_of_paper(gray, preview, edge)
        if sheet is not None:  # brighter than the desk, with dark ink: as on light paper
            gray, desk = 1 - sheet[0], sheet[1]
    ink = gray - paper_level(gray, desk)
    if desk is not None:
        ink[desk] = 0
    paper = paper_sample(ink.shape, desk)
    sample = ink[paper]
    on_lines = take_out_ruled_lines(ink, desk, partial(noise_floor, sample))
    if on_lines is not None:  # the paper between the lines, whose noise is the photo's own
        between = paper & ~on_lines
        sample = ink[between if np.count_nonzero(between) >= 64 else paper]
    ink -= noise_floor(sample, ink.size)
    np.maximum(ink, 0, out=ink)
    if ink.max() < 0.1:
        raise ImageError(f"{source}: no digit found (the image is blank or has no contrast)")
    ink /= ink.max()
    return ink


def mnist_field(ink: np.ndarray) -> np.ndarray:
    """The ink of one digit (bright on 0, max 1, specks around it left out) -> MNIST-style
    uint8 (784,): its box scaled to fit 20x20, centred by its mass in the 28x28 field."""
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    crop = with_mnist_strokes(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    scale = BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    fitted = Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
    fitted = np.asarray(fitted, dtype=np.float32)
    field = np.zeros((SIDE, SIDE), np.float32)
    com_r, com_c = center_of_mass(fitted)
    top = int(round(SIDE / 2 - com_r))
    left = int(round(SIDE / 2 - com_c))
    # Keep the whole 20x20 box inside the field even when the mass sits far off-centre.
    top = min(max(top, 0), SIDE - fitted.shape[0])
    left = min(max(left, 0), SIDE - fitted.shape[1])
    field[top:top + fitted.shape[0], left:left + fitted.shape[1]] = fitted
    return np.clip(field, 0, 255).astype(np.uint8).reshape(-1)


def digit_box(ink: np.ndarray, preview: np.ndarray | None = None,
              columns: slice | None = None) -> tuple[slice, slice]:
    """The part of ``ink`` (bright, max 1) that holds the digit: the box around its largest
    connected piece by ink, every piece with a tenth as much ink or more, and every piece
    reaching into that piece's box. A speck elsewhere (dust, a dot of the pen) widened the
    crop, and the digit shrank off-centre: a 3-pixel speck near a corner of a 300-pixel photo
    left 77.5% of photos.py's digits right. Found on the ``PREVIEW_SIDE`` copy (``preview``,
    if given); with ``columns`` (of the preview: one digit of a number), in those alone, with
    the pieces of the whole image's size (a digit's own narrow columns joined fewer of a pen's
    pieces: the digits of 100 of photos.py's pen-drawn numbers read 90.8% right, now 92.2%,
    and 94% each alone)."""
    preview = shrunk(ink, PREVIEW_SIDE) if preview is None else preview
    shape = preview.shape
    whole, left = (slice(None), slice(None)), 0
    if columns is not None:
        whole = in_photo((slice(0, shape[0]), columns), shape, ink.shape)
        preview, left = preview[:, columns], columns.start
    inked = preview > 0.1 * preview.max(initial=0)
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if rows.size == 0:
        return whole
    # Pieces 2% of the image apart or closer are one: a pen's line breaks where its ink runs
    # thin (photos.py's pen rows, whose lines break into dozens of pieces, lost 0-3 points
    # to the box with this, 1-7 without it).
    reach = max(1, round(0.02 * min(shape)))
    # Two pieces that join also join within the ink's box (the widened ink, clamped into the
    # box, still meets), so labelling the box alone gives the whole preview's pieces in less
    # time: a number's digit is a third of the preview or less.
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    inked = inked[window]
    pieces, count = label(binary_dilation(inked, iterations=reach), structure=np.ones((3, 3)))
    pieces[~inked] = 0
    if count <= 1:
        return whole
    masses = sum_labels(preview[window], pieces, np.arange(1, count + 1))
    offsets = (window[0].start, left + window[1].start)  # of the window in the whole preview
    boxes = [tuple(slice(part.start + offset, part.stop + offset)
                   for part, offset in zip(box, offsets)) for box in find_objects(pieces)]
    main = boxes[int(np.argmax(masses))]
    kept = [box for box, mass in zip(boxes, masses) if mass >= 0.1 * masses.max()
            or all(b.start < m.stop and m.start < b.stop for b, m in zip(box, main))]
    return in_photo(tuple(slice(min(box[axis].start for box in kept),
                                max(box[axis].stop for box in kept)) for axis in range(2)),
                    shape, ink.shape)


#: A digit of a number is a part of the ink, between columns without any, with a tenth of the
#: ink of the part with most (the main part) or more, 0.7-1.43 times its height (a number's
#: digits are about as tall as each other) and level with it.
DIGIT_MASS, DIGIT_HEIGHTS = 0.1, (0.7, 1 / 0.7)
#: Columns free of ink that part digits: as wide as this share of the ink's height or wider.
DIGIT_GAP = 0.1


def digit_columns(preview: np.ndarray) -> list[slice]:
    """The columns of each digit of a number written left to right in ``preview`` (the ink,
    bright, shrunk to ``PREVIEW_SIDE``), or none for one digit. Digits are told apart by
    columns free of ink, as wide as ``DIGIT_GAP`` of the ink's height or wider (a share of
    the ink, not of the image, so that a number small in the photo splits as a large one
    does), and each part must be a digit by the sizes above; the parts that are not (a
    speck, a stroke apart, a margin line, a second line of writing) go with the nearest digit,
    and with fewer than two digits the image is one digit. Gaps of 6% of the height split
    pen-drawn MNIST digits (photos.py's pen, whose lines break) in 8 of 500 and 9 of 300;
    10%, in 1 and 1, and numbers whose digits are 12% of their height apart or more split
    right. Heights of 0.75-1.33 times the main part's split 0 and 1 of those digits, but
    miscounted 9 of 100 pen-drawn three-digit numbers (MNIST's digits, boxed by their longer
    side, differ in height); 0.7-1.43, 2 (docs/predict.md)."""
    inked = preview > 0.1 * preview.max()
    rows = np.flatnonzero(inked.any(axis=1))
    reach = max(1, round(DIGIT_GAP / 2 * (rows[-1] + 1 - rows[0])))
    bands = true_runs(binary_dilation(inked.any(axis=0), iterations=reach))
    if len(bands) <= 1:
        return []
    parts = []  # (columns, ink, first row, last row + 1) of each band of inked columns
    for start, stop in bands:
        band = inked[:, start:stop]
        rows = np.flatnonzero(band.any(axis=1))
        parts.append((slice(start, stop), float(preview[:, start:stop][band].sum()),
                      rows[0], rows[-1] + 1))
    _, main_ink, main_top, main_bottom = max(parts, key=lambda part: part[1])
    low, high = (bound * (main_bottom - main_top) for bound in DIGIT_HEIGHTS)
    digits = [cols for cols, mass, top, bottom in parts
              if mass >= DIGIT_MASS * main_ink and low <= bottom - top <= high
              and top < main_bottom and main_top < bottom]
    if len(digits) < 2:
        return []
    # The other parts go with the digit nearest them, whose box then takes them or leaves them
    # out as it does for one digit: the left of a 4 written in two strokes, a 7's bar.
    starts, stops = [d.start for d in digits], [d.stop for d in digits]
    for cols, *_ in parts:
        nearest = int(np.argmin([max(d.start - cols.stop, cols.start - d.stop) for d in digits]))
        starts[nearest] = min(starts[nearest], cols.start)
        stops[nearest] = max(stops[nearest], cols.stop)
    return [slice(start, stop) for start, stop in zip(starts, stops)]


#: Narrower columns free of ink may still part two digits written close together: from this
#: share of the ink's height. photos.py's pen-drawn digits break at gaps of 0.4-10% of their
#: height; from 2.5% on, with the reading below, 2-4 of 200 at each stroke width read as two
#: digits (0-1 without it); two digits 5% of their height apart read 97.0% right (0% without).
CLOSE_GAP = 0.025
#: Each digit parted at such gaps must read with this probability or more, and the digits'
#: mean log probability must beat the whole part's. The committed model (label smoothing 0.1)
#: reads a clean digit at ~0.9 and two digits squeezed into one box at 0.2-0.8; where parting
#: a pen-drawn digit beat its whole reading on the mean alone (7 of 400), its weakest piece
#: read 0.32-0.79, six of them under 0.65.
CLOSE_DIGIT_PROBABILITY = 0.6
#: ...except where every cut is at a gap this share of the height wide or wider: there the
#: mean alone decides. Of 27 pen-drawn numbers 8% apart read wrong, 9 were kept whole by the
#: floor, a piece reading 0.36-0.59; of 37 single pen-drawn digits that the mean alone parted,
#: 32 were cut at a gap under 5%.
CLOSE_WIDE_GAP = 0.05
#: Each such digit's least share of the part's ink.
CLOSE_DIGIT_INK = 0.05
#: Partings are tried at up to this many cuts less one (2^(n-1) ways to part n pieces): at all
#: of a part's gaps if it has fewer, else at its wide gaps alone if they are fewer; thin columns
#: (below) fill the places left.
CLOSE_MAX_PIECES = 8
#: Digits that touch, or stand closer than ``CLOSE_GAP``, leave no such gap: a part is also cut
#: at a thin column, one inked over this share of its height or less (``thin_cuts``), if the
#: digits then read better than the whole part by ``THIN_CUT_MARGIN`` in mean log probability,
#: each with ``CLOSE_DIGIT_PROBABILITY`` or more. photos.py, first 200 test digits (next 200):
#: two digits 2% of their height apart 1.0% -> 94.5% right (0.0% -> 92.0%), boxes touching
#: 1.0% -> 86.5% (0.0% -> 85.0%); one image of 200 more read as two in four rows of noisy
#: photos. Margins of 0.15 and 0.3 kept 1-2 of those whole, but read touching pairs 81.0% and
#: 74.0%. The height is that of the part's larger pieces: measured on all its ink, a speck in a
#: corner of the photo parted 2 of 200 single digits.
THIN_COLUMN, THIN_CUT_END, THIN_CUT_MARGIN = 0.3, 0.15, 0.05


def close_digits(preview: np.ndarray, columns: slice, field: Callable[[slice], np.ndarray],
                 read: Callable[[np.ndarray], np.ndarray]) -> list[slice]:
    """``columns`` (of ``preview``: one part that ``digit_columns`` found, or the whole ink)
    as the columns of each digit in it, parted at columns free of ink ``CLOSE_GAP`` of its
    height wide or wider, or at thin columns (``thin_cuts``). Of every way to part it whose
    digits are each 0.7 times as tall as the part (``DIGIT_HEIGHTS``) or taller, hold
    ``CLOSE_DIGIT_INK`` of its ink or more and read with ``CLOSE_DIGIT_PROBABILITY`` or more
    (any probability where every cut is at a gap ``CLOSE_WIDE_GAP`` of the height wide or
    wider), the one whose digits read with the highest mean log probability wins, if that
    beats the whole part's reading (by ``THIN_CUT_MARGIN`` if cut at a thin column; ``field``:
    columns -> MNIST image; ``read``: images -> the model's probabilities)."""
    inked = preview[:, columns] > 0.1 * preview.max()
    rows = np.flatnonzero(inked.any(axis=1))
    height = rows[-1] + 1 - rows[0]
    least = max(1, round(CLOSE_GAP * height))
    gaps = [(start, stop) for start, stop in true_runs(~inked.any(axis=0))
            if start > 0 and stop < inked.shape[1] and stop - start >= least]
    wide_gaps = [(start, stop) for start, stop in gaps if stop - start >= CLOSE_WIDE_GAP * height]
    cut_gaps = gaps if len(gaps) < CLOSE_MAX_PIECES else wide_gaps
    if len(cut_gaps) >= CLOSE_MAX_PIECES:
        cut_gaps = []
    thin = thin_cuts(inked, gaps, CLOSE_MAX_PIECES - 1 - len(cut_gaps))
    if not cut_gaps and not thin:
        return [columns]
    # The pieces between the seams (the gaps, and the thin cuts: gaps of one column, left out of
    # both sides); a digit is a run of them, pieces i to j - 1, as tall as the part's ink but
    # for DIGIT_HEIGHTS's least share and with CLOSE_DIGIT_INK of its ink.
    seams = sorted(gaps + thin)
    cuttable = [k for k, seam in enumerate(seams) if seam in cut_gaps or seam in thin]
    starts = [0, *(stop for _, stop in seams)]
    stops = [*(start for start, _ in seams), inked.shape[1]]
    ink = np.where(inked, preview[:, columns], 0)
    least_height = DIGIT_HEIGHTS[0] * height
    least_ink = CLOSE_DIGIT_INK * float(ink.sum())

    @cache
    def is_digit(i: int, j: int) -> bool:
        band_rows = np.flatnonzero(inked[:, starts[i]:stops[j - 1]].any(axis=1))
        return bool(band_rows[-1] + 1 - band_rows[0] >= least_height
                    and ink[:, starts[i]:stops[j - 1]].sum() >= least_ink)

    def cols(i: int, j: int) -> slice:
        return slice(columns.start + starts[i], columns.start + stops[j - 1])

    # (the digits, whether each must read CLOSE_DIGIT_PROBABILITY or more, what the digits'
    # mean log probability must beat beyond the whole part's)
    partings = []
    for cuts in itertools.product((False, True), repeat=len(cuttable)):
        cut = [k for k, chosen in zip(cuttable, cuts) if chosen]
        ends = [0, *(k + 1 for k in cut), len(starts)]
        digits = list(zip(ends[:-1], ends[1:]))
        if len(digits) > 1 and all(is_digit(*d) for d in digits):
            partings.append((digits, not all(seams[k] in wide_gaps for k in cut),
                             THIN_CUT_MARGIN if any(seams[k] in thin for k in cut) else 0.0))
    if not partings:
        return [columns]
    pieces = sorted({d for digits, _, _ in partings for d in digits})
    images = np.stack([field(columns), *(field(cols(*d)) for d in pieces)])
    with np.errstate(divide="ignore"):  # a probability of 0 reads as log 0 = -inf
        whole_log_p, *pieces_log_p = np.log(read(images).max(axis=1)).astype(np.float64)
    log_p = dict(zip(pieces, pieces_log_p))
    floor = math.log(CLOSE_DIGIT_PROBABILITY)
    scored = []
    for digits, floored, margin in partings:
        mean = sum(log_p[d] for d in digits) / len(digits)
        if mean > whole_log_p + margin and (not floored or min(log_p[d] for d in digits) >= floor):
            scored.append((mean, digits))
    if not scored:
        return [columns]
    _, digits = max(scored, key=lambda scored_parting: scored_parting[0])
    return [cols(*d) for d in digits]


def thin_cuts(inked: np.ndarray, gaps: list[tuple[int, int]],
              most: int) -> list[tuple[int, int]]:
    """Where digits that touch may be parted in a part's ink mask ``inked`` (rows, columns),
    whose ``gaps`` are its runs of columns free of ink, (start, stop): within the box of its
    connected pieces with a tenth of the largest's pixels or more (a speck or the paper's
    noise left out), the least inked column of each run of columns inked over ``THIN_COLUMN``
    of the box's height or less that holds no gap and ends ``THIN_CUT_END`` of the height or
    more from the box's sides, as (column, column + 1); at most ``most`` of them, the thinnest."""
    if most == 0:  # the part's gaps took every place
        return []
    pieces, _ = label(inked)
    sizes = np.bincount(pieces.ravel())[1:]
    rows, columns = np.nonzero(np.isin(pieces, np.flatnonzero(sizes >= 0.1 * sizes.max()) + 1))
    top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    height = bottom - top
    counts = inked[top:bottom].sum(axis=0)
    end = THIN_CUT_END * height
    cuts = []
    for start, stop in true_runs(counts <= THIN_COLUMN * height):
        if (start - left < end or right - stop < end
                or any(start <= gap_start and gap_stop <= stop for gap_start, gap_stop in gaps)):
            continue
        run = counts[start:stop]
        thinnest = np.flatnonzero(run == run.min())
        column = start + int(thinnest[len(thinnest) // 2])
        cuts.append((int(run.min()), (column, column + 1)))
    return [cut for _, cut in sorted(cuts)[:most]]


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in the 1-D ``mask``, left to right."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def in_photo(box: tuple[slice, slice], preview_shape: tuple[int, int],
             shape: tuple[int, int]) -> tuple[slice, slice]:
    """A box of pixels of a preview, as the box of the photo's pixels that it covers (each
    preview pixel averages a block of the photo: the start rounds down, the stop up)."""
    return tuple(slice(part.start * size // preview_size, -(-part.stop * size // preview_size))
                 for part, size, preview_size in zip(box, shape, preview_shape))


#: Stroke width over the digit's height below which a stroke counts as thin (under the 0.1st
#: percentile of MNIST's test digits, 0.044; ``stroke_width``). Not over its longer side: a
#: number is read whole before it is parted, and over three digits' width its strokes were
#: thin: the whole, widened and darkened, read as one digit surer than its digits did.
THIN_STROKE = 0.04
#: What thin strokes are widened to, over the longer side of the (at most 80-pixel) copy: so
#: that, shrunk to the 20-pixel box, they are as wide as MNIST's. The 28x28 fields of
#: photos.py's pen digits (strokes 1.2%) then have strokes 0.098 of their box's longer side
#: and 90.7 of ink (the field's sum over 255; medians of 100 test digits), MNIST's test digits
#: 0.093 and 90.2; widened to MNIST's own median, 0.10, they had 0.063 and 59.4.
WIDENED_STROKE = 0.16
#: Thin strokes' pixels this bright or brighter (the brightest is 1) count as full ink before
#: they are widened. Shrunk to 80 pixels, a pen's line covers only part of each pixel it
#: crosses, by how it falls on them, and widening kept those shades: the digit came out as
#: faint dashes. photos.py (first 200 test digits; next 200): pen strokes 0.5% 87.0% -> 93.0%
#: (86.5% -> 91.0%), on a small turned sheet with noise 95.5% -> 96.0% (93.5% -> 94.5%); at
#: 0.5, strokes 0.5% 92.5%; at 0.3, the small turned sheet 95.0% (docs/predict.md).
FULL_INK = 0.4
#: Stroke width over the digit's height above which strokes count as bold: MNIST's 99th
#: percentile (5,000 training digits: median 0.099, 90th percentile 0.139). A marker's bold
#: strokes filled the loops of a digit shrunk to the 20-pixel box: photos.py's "tight crop,
#: bold strokes" (median 0.17) read 95.5% right (first 200 test digits; next 200: 91.5%), now
#: 98.0% (95.0%), no other row changed. At 0.15 (the 95th percentile), 99.0% (96.5%), but 13
#: of the first 400 test digits drawn clean crossed it, and on the next 200, 18 rows of single
#: digits lost half a point and five rows of close numbers 1-1.5 points.
BOLD_STROKE = 0.18
#: Bold strokes are eroded by half their excess over this share of the height (MNIST's 85th
#: percentile), on each side. The erosion reflects at the box's sides, so strokes along them
#: thin from the inside and the box, the digit's as MNIST took it, stays. Towards MNIST's
#: median, 0.10, the bold row read 98.0% (94.5%). With ``BOLD_STROKE`` at 0.15: towards 0.10,
#: 99.5% (95.5%), but a clean 9 with strokes of 0.164 read as 4 (towards 0.12 too); towards
#: 0.05 or 0.07, 98.5% and 99.5% (95.0% and 96.0%); eroded from outside the box too and boxed
#: again, 98.5% (95.0%).
THINNED_STROKE = 0.13


def with_mnist_strokes(crop: np.ndarray) -> np.ndarray:
    """``crop`` (the digit's box, ink bright, max 1), or, if its strokes are thin or bold, a
    copy at most 80 pixels across with them nearer MNIST's: thin ones at ``FULL_INK`` and
    widened to ``WIDENED_STROKE``, bold ones (``BOLD_STROKE``) thinned towards
    ``THINNED_STROKE``. A pen's line is 1-2% of a digit's height where MNIST's is ~10%: shrunk
    to the 20-pixel box it became a faint trace, and drawn digits with strokes of 1.2% read
    69.5% right; a marker's bold strokes filled the digit's loops there (docs/predict.md)."""
    side = max(crop.shape)
    work = crop if side <= 80 else np.asarray(Image.fromarray(crop).resize(
        (max(1, round(crop.shape[1] * 80 / side)), max(1, round(crop.shape[0] * 80 / side))),
        Image.Resampling.BOX))
    if work.max() <= 0:
        return crop
    work = work / work.max()
    strokes = stroke_width(work)
    if strokes > BOLD_STROKE * work.shape[0]:
        radius = max(1, round((strokes - THINNED_STROKE * work.shape[0]) / 2))
        thinned = grey_erosion(work, footprint=disk(radius))
        # A dash a few pixels tall measures bold against its height, and the disk fits nowhere
        # in it: eroded, it left no ink, and the field's centre of mass was NaN. (Every erosion
        # in four photos.py rows, 400 images each, left 0.85 or more.)
        return thinned if thinned.max() >= 0.5 else crop
    if strokes >= THIN_STROKE * work.shape[0]:
        return crop
    width = strokes / max(work.shape)  # in the 20-pixel box, the longer side is what fits
    radius = max(1, round((WIDENED_STROKE - width) / 2 * max(work.shape)))
    work = np.minimum(work / FULL_INK, 1)
    return grey_dilation(np.pad(work, radius), footprint=disk(radius))


def disk(radius: int) -> np.ndarray:
    """A round footprint (2 radius + 1 pixels across) for a grey dilation or erosion."""
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


def stroke_width(ink: np.ndarray) -> float:
    """The mean width, in pixels, of the strokes in ``ink`` (bright): a stroke of width w and
    length L covers w·L pixels inside a boundary 2L long, counted along rows and columns."""
    inked = np.pad(ink > 0.5 * ink.max(), 1).astype(np.int8)
    boundary = np.count_nonzero(np.diff(inked, axis=0)) + np.count_nonzero(np.diff(inked, axis=1))
    return 2 * np.count_nonzero(inked) / boundary if boundary else 0.0


def sheet_of_paper(gray: np.ndarray, preview: np.ndarray, edge: float
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """A photo of a sheet on a darker desk (``preview``: a smaller copy of it, ``edge``: the
    median of its edge pixels) cut to the sheet and, if it lies wholly in the photo, turned
    upright (``upright_sheet``), and the mask of the desk left in it; None for anything else.

    Its edges are dark, as those of a light digit on black, so the sheet itself would be taken
    for the digit. A sheet is the largest bright region, holes (the ink) filled, that is
    mostly bright inside (85% or more), since ink is thin, but holds some ink: 0.1% of it or
    more at least a quarter of the way from the paper's level to the desk's (a pen's line,
    averaged on the preview, can be fainter than the bright threshold). A light digit's filled
    outline (a "0" is a disc) is half hollow, or (a bold "0" whose hole closed) has no dark
    inside at all. The region must also cover 40% of the image or more (at a 30% rule, 15 of
    MNIST's 10,000 test digits still passed for sheets, at 40% none), or be a quadrilateral:
    fill 90% or more of its ``enclosing_quadrilateral``, and cover 5% or more. A sheet filled
    98-100% at any angle, and 99% seen at an angle with its far edge 50-80% as wide as its near
    one; of the MNIST test digits under 40% that passed the other tests, the fullest filled 86%
    at 28 pixels and 87% at 112 (10,000 and 3,000). A quadrilateral need only be 60% bright: a
    bold digit on a small sheet inks more of it (photos.py's sheet 30% of the photo, the digit
    across 91% of its width: 31 of 200 sheets were 76-85% bright, and 26 digits read wrong, 25
    as a 0). With that, still none of those 13,000 MNIST images passed (nor at 50%).

    The region is found on the preview, and a band of 2% of the sheet's width inside its
    outline counts as desk: a camera blurs the sheet's edge over several pixels, and the greys
    of that band, left in, read as ink all around the sheet."""
    bright = preview > (edge + preview.max()) / 2
    regions, count = label(bright)
    if count == 0:
        return None
    largest = np.argmax(np.bincount(regions.reshape(-1))[1:]) + 1
    region = binary_fill_holes(regions == largest)
    area = region.mean()
    if area < 0.05:
        return None
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    band = max(1, round(0.02 * min(len(rows), len(cols))))
    inside = binary_erosion(region, iterations=band)
    if not inside.any():
        return None
    values = preview[inside]
    paper = np.median(values)
    bright_share = bright[region].mean()
    if bright_share < 0.6 or np.mean(values < paper - 0.25 * (paper - edge)) < 0.001:
        return None
    corners = enclosing_quadrilateral(region)  # after the cheaper tests, which most digits fail
    if (np.count_nonzero(region) / polygon_area(corners) < 0.9
            and (area < 0.4 or bright_share < 0.85)):
        return None
    if region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any():
        # Cut by the photo's edge, the sheet's corners are not all in it: the sheet as it lies.
        box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        sheet = gray[in_photo(box, preview.shape, gray.shape)]
        keep = Image.fromarray(inside[box]).resize(sheet.shape[::-1], Image.Resampling.NEAREST)
        return sheet, ~np.asarray(keep, bool)
    return upright_sheet(gray, preview, inside, corners, edge)


def upright_sheet(gray: np.ndarray, preview: np.ndarray, inside: np.ndarray,
                  corners: np.ndarray, edge: float) -> tuple[np.ndarray, np.ndarray]:
    """The sheet whose ``corners`` (4, 2: x, y on ``preview``, as ``enclosing_quadrilateral``
    gives them) are in the photo ``gray``, mapped to an upright rectangle, and the mask of the
    desk in it (outside ``inside``, the sheet on the preview). The corner taken as the top left
    is the one nearest the top left as seen, so a sheet is turned by 45° or less.

    A digit is written along its sheet: cut out as it lay, a sheet turned 15° left the digit
    turned (photos.py: 97.5% right), and a sheet seen at an angle left it narrower at the far
    edge (far edge 50% as wide as the near one: 92.5%)."""
    centre = corners.mean(axis=0)
    bearing = np.arctan2(corners[:, 1] - centre[1], corners[:, 0] - centre[0])
    order = np.argsort(bearing)  # clockwise as seen, the y axis pointing down
    # The top left lies at -135° from the centre: each corner's bearing off it, within ±180°.
    off = (bearing[order] + 3 * np.pi / 4 + np.pi) % (2 * np.pi) - np.pi
    corners = np.roll(corners[order], -int(np.argmin(np.abs(off))), axis=0)
    scale = np.array([gray.shape[1] / preview.shape[1], gray.shape[0] / preview.shape[0]])
    top_left, top_right, bottom_right, bottom_left = in_pixels = corners * scale
    # Each side as long as the longer of its pair: the nearer edge, less shrunk by distance.
    width = max(np.hypot(*(top_right - top_left)), np.hypot(*(bottom_right - bottom_left)))
    height = max(np.hypot(*(bottom_left - top_left)), np.hypot(*(bottom_right - top_right)))
    size = (max(1, round(width)), max(1, round(height)))
    rectangle = np.array([(0, 0), (size[0], 0), size, (0, size[1])], np.float64)
    sheet = Image.fromarray(gray).transform(
        size, Image.Transform.PERSPECTIVE, perspective_map(rectangle, in_pixels),
        Image.Resampling.BILINEAR, fillcolor=edge)
    keep = Image.fromarray(inside.astype(np.uint8)).transform(
        size, Image.Transform.PERSPECTIVE, perspective_map(rectangle, corners),
        Image.Resampling.NEAREST, fillcolor=0)
    return np.asarray(sheet), np.asarray(keep) == 0


def perspective_map(output: np.ndarray, source: np.ndarray) -> tuple[float, ...]:
    """The eight coefficients Pillow's PERSPECTIVE transform takes: the map from the
    ``output`` image's points to the ``source`` image's, from four corners of each (4, 2)."""
    rows, values = [], []
    for (x, y), (u, v) in zip(output, source):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        values += [u, v]
    return tuple(np.linalg.solve(np.array(rows), np.array(values)))


def enclosing_quadrilateral(region: np.ndarray) -> np.ndarray:
    """The corners (4, 2: x, y, in order around it) of a four-sided polygon around
    ``region``, which a sheet fills: photographed at an angle, a sheet is a
    quadrilateral, not a rectangle (its far edge 70% as wide as its near one, it filled 85% of
    its smallest turned rectangle, and 99% of this polygon).

    The polygon is the region's convex hull with sides dropped one at a time: each time the
    side whose two neighbours, extended until they meet, add the least area. Such a pair meets
    ahead of the side when their outward turns add up to less than 180°, and a convex polygon
    of n > 4 sides always has one (its n pairs turn 720° in all)."""
    outline = region & ~binary_erosion(region)
    ys, xs = np.nonzero(outline)
    # The pixels' corners: never all on one line, and a region one pixel wide has an area.
    corners = np.concatenate([np.stack([xs + dx, ys + dy], axis=1)
                              for dx in (0, 1) for dy in (0, 1)]).astype(np.float64)
    polygon = corners[ConvexHull(corners).vertices]
    while len(polygon) > 4:
        after = np.roll(polygon, -1, axis=0)
        arriving = polygon - np.roll(polygon, 1, axis=0)  # the side before each side's start
        leaving = np.roll(polygon, -2, axis=0) - after  # the side after each side's end
        side = after - polygon
        # Where they meet: start + ahead * arriving = end - back * leaving, for some back.
        turn = cross(arriving, leaving)
        with np.errstate(divide="ignore", invalid="ignore"):
            ahead = cross(side, leaving) / turn
            added = np.where(turn > 0, cross(ahead[:, None] * arriving, side) / 2, np.inf)
        dropped = int(np.argmin(added))
        polygon[dropped] += ahead[dropped] * arriving[dropped]
        polygon = np.delete(polygon, (dropped + 1) % len(polygon), axis=0)
    return polygon


def polygon_area(polygon: np.ndarray) -> float:
    """The area inside the corners (n, 2) of a polygon, in order (the shoelace formula)."""
    return float(np.abs(np.sum(cross(polygon, np.roll(polygon, -1, axis=0)))) / 2)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The z component of the cross products of the 2-D vectors in ``a`` and ``b`` (n, 2)."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def desk_along_sides(preview: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """The mask, in a photo of paper of ``shape``, of a desk seen along whole sides of it
    (``preview``: a smaller copy of the photo, ink and desk bright, paper dark), or None.

    Where the paper does not reach a side of the photo, the desk there is dark like ink, and
    the crop took it in: a 10% strip along one side left 9% of photos.py's digits right. A
    strip is a side that is dark along 95% of it or more, whose dark part reaches in along a
    straight line (80% of its rows within 1% of the width of a fitted line, rows where the
    digit touches the strip being the rest) no further than half way. The paper's soft edge
    next to it counts as desk, as in ``sheet_of_paper``. Ink that hugs a side in a straight
    line, and is the only dark thing in the photo, is left: it is the digit. When the desk is
    most of the photo's edge, ``sheet_of_paper`` has already cut the sheet out."""
    paper = float(np.median(preview[edge_frame(preview.shape)]))
    dark = preview > paper + (preview.max() - paper) / 4
    reaches = {k: reach for k in range(4)
               if (reach := straight_reach(np.rot90(dark, k))) is not None}
    if not reaches:
        return None
    covered = np.zeros_like(dark)
    for k, reach in reaches.items():
        side = np.rot90(covered, k)  # a view: its left column is the photo's side k
        side[np.arange(side.shape[1])[None, :] < reach[:, None]] = True
    if not (dark & ~covered).any():
        return None
    desk = np.zeros(shape, bool)
    for k, reach in reaches.items():
        side, preview_side = np.rot90(desk, k), np.rot90(preview, k)
        (h, w), (preview_h, preview_w) = side.shape, preview_side.shape
        band = max(2, round(0.02 * preview_w))
        # The strip's reach in each row of the photo, in the photo's pixels.
        rows = (np.arange(h) + 0.5) * preview_h / h - 0.5
        reach_full = (np.interp(rows, np.arange(preview_h), reach) + band) * w / preview_w
        width = min(w, int(np.ceil(reach_full.max())))
        side[:, :width] |= np.arange(width)[None, :] < reach_full[:, None]
    return None if desk.all() else desk


def straight_reach(dark: np.ndarray) -> np.ndarray | None:
    """For a desk along the left side of ``dark`` (ink or desk, True): how far it reaches in,
    per row, as a fitted straight line; None if that side holds no such strip."""
    h, w = dark.shape
    if dark[:, 0].mean() < 0.95:
        return None
    reach = np.where(dark.all(axis=1), w, np.argmin(dark, axis=1)).astype(np.float64)
    rows = np.arange(h)
    inliers = np.ones(h, bool)
    for _ in range(3):
        if np.count_nonzero(inliers) < 2:  # a line needs two rows; the test is after the refits
            return None
        slope, intercept = np.polyfit(rows[inliers], reach[inliers], 1)
        fitted = intercept + slope * rows
        inliers = np.abs(reach - fitted) <= max(2.0, 0.01 * w)
    if inliers.mean() < 0.8 or fitted.max() > w / 2:
        return None
    return np.maximum(fitted, 0)


def paper_level(gray: np.ndarray, desk: np.ndarray | None = None) -> np.ndarray:
    """The paper's own level under each pixel of ``gray`` (ink bright, paper dark), so that a
    shadow or a vignette across a photo is not taken for ink: a quadratic surface fitted to the
    paper around the image's edge (the outer twentieth on each side, on a copy at most ~128
    pixels across), where the polarity test also looks for paper, or to all of it when a
    ``desk`` mask is given (``paper_sample``). The fit starts from the darker half of those
    pixels; each refit drops the pixels well above the last fit (ink, which is bright here).
    Evenly lit paper comes out flat, at its median."""
    small = shrunk(gray)
    if desk is not None and small.shape != desk.shape:  # any desk in a pixel's block
        desk = shrunk(desk.astype(np.float32)) > 0
    frame = paper_sample(small.shape, desk)
    values = small[frame].astype(np.float64)
    terms = surface_terms(*small.shape)[frame.reshape(-1)]
    paper = values <= np.median(values)
    for _ in range(5):
        coefficients = np.linalg.lstsq(terms[paper], values[paper], rcond=None)[0]
        above = values - terms @ coefficients
        spread = 1.4826 * np.median(np.abs(above[paper]))
        paper = above <= 2.5 * spread + 1e-3
    coefficients[0] += np.median(above[paper])
    return surface(coefficients, *gray.shape)


def shrunk(gray: np.ndarray, side: int = 128) -> np.ndarray:
    """``gray`` averaged down to ``side`` pixels on its shorter side (itself if no larger)."""
    h, w = gray.shape
    scale = side / min(h, w)
    if scale >= 1:
        return gray
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))


def paper_sample(shape: tuple[int, int], desk: np.ndarray | None) -> np.ndarray:
    """Where to measure the paper: the image's edge frame, or, where a desk was found, all of
    the paper. A turned sheet cut out of a desk keeps little of its box's frame, in patches
    along the middle of each side: fitted there, the paper's level went astray under a
    shadow with JPEG blocks (photos.py's pen on a small turned sheet: 65.5% right against
    94.5% from the whole sheet, where the fit drops the ink as it drops it from the frame)."""
    paper = None if desk is None else ~desk
    if paper is None or np.count_nonzero(paper) < 64:  # too little paper to fit a surface to
        return edge_frame(shape)
    return paper


def edge_frame(shape: tuple[int, int]) -> np.ndarray:
    """Mask of the outer twentieth of an image on each side: paper, in nearly any photo (a
    tenth took in more of tightly cropped bold digits: experiments/photos.py read 93.5% of them
    right against 95.5%)."""
    margin = max(1, min(shape) // 20)
    frame = np.ones(shape, bool)
    frame[margin:-margin, margin:-margin] = False
    return frame


#: The largest deviation of the paper's noise that ``noise_floor`` takes for noise, not ink
#: (38 gray levels). It was 0.1, where photos.py's noise of σ 0.1 (clipped at white) measures
#: 0.080-0.104: the images measuring above it had no floor, the noise counted as ink and the
#: box took in the whole photo; the digit came out half its height, or, its strokes measured
#: thin amid the noise, widened into a blob. That row read 96.0% right (next 200 test digits:
#: 93.0%), now 99.5% (95.0%); tightly cropped bold digits, whose ink can lie at the 60th
#: percentile, 98.0% (95.0%) either way.
NOISE_MAX = 0.15


def noise_floor(paper: np.ndarray, pixels: int) -> float:
    """How far the noise in ``paper`` (ink minus the paper's level, around the edge) can reach
    among an image's ``pixels``: sensor or JPEG noise that reaches the crop's threshold
    anywhere would widen the crop to the whole image, or make a digit of blank paper.

    The largest of n Gaussian samples lies near sqrt(2 ln n) deviations; one more is added. The
    deviation comes from the 60th percentile's distance to the median, which paper clipped at
    white keeps (clipping takes the lower half only). A tightly cropped bold digit can cover
    so much of the edge that this percentile lies in its ink: a deviation above ``NOISE_MAX``
    is taken for that, and the lower quartile's distance gives it instead, which ink (bright
    here) reaches only where it covers half the edge; then no floor is set."""
    sample = paper[::max(1, paper.size // 200_000)]
    lower, median, upper = np.quantile(sample, [0.25, 0.5, 0.6])
    plausible = [d for d in ((upper - median) / 0.2533, (median - lower) / 0.6745)
                 if d <= NOISE_MAX]
    return float(plausible[0] * (math.sqrt(2 * math.log(pixels)) + 1)) if plausible else 0.0


def surface_terms(h: int, w: int) -> np.ndarray:
    """(h*w, 6): 1, x, y, x^2, xy, y^2 at each pixel, with x and y in [-1, 1]."""
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    x, y = x.reshape(-1), y.reshape(-1)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


def surface(coefficients: np.ndarray, h: int, w: int) -> np.ndarray:
    """The quadratic surface of ``surface_terms``' coefficients on an (h, w) grid, float32."""
    c0, cx, cy, cxx, cxy, cyy = (np.float32(c) for c in coefficients)
    x = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    level = np.multiply(cy + cxy * x, y)  # one (h, w) array, filled in place (large photos)
    level += c0 + cx * x + cxx * x * x
    level += cyy * y * y
    return level


def input_files(paths: list[str], failures: list[UserError]) -> list[str]:
    """``paths`` with each directory replaced by the images and CSV files in it, by name; a
    directory with none adds an error to ``failures``."""
    readable = {ext for ext, kind in Image.registered_extensions().items() if kind in Image.OPEN}
    files = []
    for path in paths:
        if not Path(path).is_dir():
            files.append(path)
            continue
        found = sorted(str(f) for f in Path(path).iterdir()
                       if f.is_file() and f.suffix.lower() in readable | {".csv"})
        if not found:
            failures.append(ImageError(f"{path}: a directory with no image or CSV files"))
        files += found
    return files


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


def predict_files(paths: list[str], model_path: str | Path
                  ) -> tuple[list[Prediction], list[UserError]]:
    """Predictions for image files (one per digit of a number, left to right, named
    ``path:digitN``), CSV files (one per row, ``path:rowN``) and the images and CSV files in
    directories, in input order, and the error of each input that could not be read: one bad
    file does not cost the others theirs."""
    read = model_reading(model_path)
    sources, pixels, labels, numbers, failures = [], [], [], [], []
    for path in input_files(paths, failures):
        try:
            of_number = None
            if str(path).lower().endswith(".csv"):
                rows, row_labels = read_pixel_csv(path)
                names = [f"{path}:row{i + 1}" for i in range(len(rows))]
            else:
                rows, row_labels = to_mnist_digits(load_image(path), str(path), read), None
                names = [str(path)]
                if len(rows) > 1:
                    names = [f"{path}:digit{i + 1}" for i in range(len(rows))]
                    of_number = [(str(path), i + 1, len(rows)) for i in range(len(rows))]
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
