"""The ink of an image (``paper.digit_ink``) -> MNIST-style 28x28 images of its digits.

Each digit is brought into MNIST's form, as LeCun et al. built the data set: white on black,
cropped to the digit with specks elsewhere left out (``digit_box``), its strokes brought nearer
MNIST's, a pen's thin ones widened and a marker's bold ones thinned
(``with_mnist_strokes``), its box scaled (aspect kept) to fit 20x20, then placed in a 28x28
field so that its centre of mass is at the centre (``mnist_field``). A number written left to
right is read digit by digit (``digit_columns``; digits written closer are parted where the
model reads the pieces as digits, ``close_digits``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image
from scipy.ndimage import (binary_dilation, center_of_mass, find_objects, grey_dilation,
                           grey_erosion, label, sum_labels)

from .paper import PREVIEW_SIDE, digit_ink, in_photo, shrunk

SIDE, BOX = 28, 20


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


#: The digit's box holds the ink above a tenth of its brightness, or above a fifth for a digit
#: under ``SMALL_DIGIT`` pixels at a tenth. There a JPEG's grey fringe, or an enlargement's, a
#: pixel or two wide around the strokes, is a tenth of the box: it widened the box and shrank
#: and blurred the digit. MNIST's 10,000 test digits as 28-pixel JPEGs (quality 75) read 98.49%
#: right with a tenth, 98.67% with a fifth (PNGs 98.66% and 98.67%); enlarged to 42 pixels,
#: JPEGs 98.57% and 98.65%, PNGs 98.49% and 98.61%; at 56 pixels (boxes of ~40) a fifth moved
#: them by -0.01 and +0.04 points. A fifth for every digit cost photos.py's larger ones 5.5
#: points over 19 rows; with the limit, every row reads as before (docs/predict.md).
CROP_INK, SMALL_DIGIT_CROP_INK, SMALL_DIGIT = 0.1, 0.2, 36


def mnist_field(ink: np.ndarray) -> np.ndarray:
    """The ink of one digit (bright on 0, max 1, specks around it left out) -> MNIST-style
    uint8 (784,): its box (``CROP_INK``) scaled to fit 20x20, centred by its mass in the 28x28
    field."""
    row_peaks, col_peaks = ink.max(axis=1), ink.max(axis=0)

    def box_above(level: float) -> tuple[np.ndarray, np.ndarray]:
        return np.flatnonzero(row_peaks > level), np.flatnonzero(col_peaks > level)

    rows, cols = box_above(CROP_INK)
    if max(rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]) < SMALL_DIGIT \
            and row_peaks.max() > SMALL_DIGIT_CROP_INK:
        rows, cols = box_above(SMALL_DIGIT_CROP_INK)
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
    bright, shrunk to ``PREVIEW_SIDE``), or none for one digit without a sign (the whole
    image is the digit). Digits are told apart by columns free of ink, as wide as
    ``DIGIT_GAP`` of the ink's height or wider (a share of the ink, not of the image, so
    that a number small in the photo splits as a large one does), and each part must be a
    digit by the sizes above; the parts that are not (a speck, a stroke apart, a margin
    line, a second line of writing) go with the nearest digit, but a sign before or between
    digits with none (``is_sign``). Gaps of 6% of the height split pen-drawn MNIST digits
    (photos.py's pen, whose lines break) in 8 of 500 and 9 of 300; 10%, in 1 and 1, and
    numbers whose digits are 12% of their height apart or more split right. Heights of
    0.75-1.33 times the main part's split 0 and 1 of those digits, but miscounted 9 of 100
    pen-drawn three-digit numbers (MNIST's digits, boxed by their longer side, differ in
    height); 0.7-1.43, 2 (docs/predict.md)."""
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
    # A plus beside another part is never the main part: pen-drawn digits, their strokes
    # broken, can hold less ink than a plus drawn before them, and then measured against it
    # were too tall for digits (``PLUS_BAR``'s scratch run: 63.5% and 78.0% -> 95.0% and
    # 90.5% right, the numbers alone 95.0% and 91.0%). The tallest part never is one.
    signless = [(cols, mass, top, bottom) for cols, mass, top, bottom in parts
                if not any(is_plus(inked[:, cols], *other[2:])
                           for other in parts if other[0] != cols)]
    _, main_ink, main_top, main_bottom = max(signless, key=lambda part: part[1])
    low, high = (bound * (main_bottom - main_top) for bound in DIGIT_HEIGHTS)
    digit_parts = [(cols, mass, top, bottom) for cols, mass, top, bottom in parts
                   if mass >= DIGIT_MASS * main_ink and low <= bottom - top <= high
                   and top < main_bottom and main_top < bottom]
    signs = [cols for cols, _, top, bottom in parts
             if is_sign(cols, top, bottom, digit_parts, inked[:, cols])]
    if len(digit_parts) < 2 and not signs:
        return []
    digits = [cols for cols, *_ in digit_parts]
    # The other parts go with the digit nearest them, whose box then takes them or leaves them
    # out as it does for one digit: the left of a 4 written in two strokes, a 7's bar; but not
    # a sign.
    starts, stops = [d.start for d in digits], [d.stop for d in digits]
    for cols, *_ in parts:
        if cols in signs:
            continue
        nearest = int(np.argmin([max(d.start - cols.stop, cols.start - d.stop) for d in digits]))
        starts[nearest] = min(starts[nearest], cols.start)
        stops[nearest] = max(stops[nearest], cols.stop)
    return [slice(start, stop) for start, stop in zip(starts, stops)]


#: A part between two digits that keeps this share of their joint height clear above and below
#: it is a sign (a dash, a plus, an equals sign), no digit's: joined to the nearer digit, a
#: dash made a 7 read as a 2. Before the first digit only a dash (a minus, "-5"; ``is_dash``)
#: or a cross (a plus, "+49"; ``is_plus``) is one: any part there misread pen-drawn numbers
#: whose 4's arm or 5's stem had broken off. After the last digit only a cross is one ("18+"):
#: a dash there stays with the digit (a 7's bar written apart).
SIGN_CLEAR = 0.2


def is_sign(cols: slice, top: int, bottom: int,
            digit_parts: list[tuple[slice, float, int, int]], shape: np.ndarray) -> bool:
    """Whether the part in columns ``cols``, rows ``top`` to ``bottom`` (not a digit; its ink
    mask in those columns ``shape``), lies between two of ``digit_parts`` (columns, ink, top,
    bottom; left to right) and within the middle of their joint height, ``SIGN_CLEAR`` of it
    clear above and below; or before the first and a dash or a plus beside it (``is_dash``,
    ``is_plus``); or after the last and a plus beside it."""
    left = [part for part in digit_parts if part[0].stop <= cols.start]
    right = [part for part in digit_parts if cols.stop <= part[0].start]
    if not right:
        return bool(left) and is_plus(shape, *left[-1][2:])
    if not left:
        _, _, span_top, span_bottom = right[0]
        return (is_dash(cols.stop - cols.start, top, bottom, span_top, span_bottom)
                or is_plus(shape, span_top, span_bottom))
    return in_the_middle(top, bottom, min(left[-1][2], right[0][2]),
                         max(left[-1][3], right[0][3]))


#: A plus is a cross: the ink in the middle half of its rows spans this share of its box's
#: columns or more, the ink in the middle half of its columns as much of its rows, and its
#: box's four corners (a third of its height by a third of its width each) hold
#: ``PLUS_CORNERS`` of their area in ink or less. Bands, not its fullest row and column: a
#: cross drawn by hand is turned, its bars crossing off their middles (a scratch run, pen-drawn
#: numbers with such a plus before them: 32.0% and 36.0% right with the fullest row and
#: column, 60.0% and 73.5% with the middle thirds, 63.5% and 78.0% with the halves). A
#: pen-drawn 4's arm broken off (an L) is none. Beside a digit it is a quarter of its height
#: wide or wider (``DASH_LONG``) and leaves a tenth of that height clear above and below
#: (``PLUS_CLEAR``): photos.py's plus, 40% of the digits' height, read 100.0% and 98.5% right
#: before one digit and two with a fifth (``SIGN_CLEAR``; a taller second digit left less
#: above it), 100.0% and 100.0% with a tenth.
PLUS_BAR, PLUS_CORNERS, PLUS_CLEAR = 0.8, 0.1, 0.1


def is_plus(shape: np.ndarray, span_top: int, span_bottom: int) -> bool:
    """Whether the ink of ``shape``, an ink mask, is a plus beside ink in rows ``span_top`` to
    ``span_bottom`` of it (``PLUS_BAR``)."""
    rows, cols = np.flatnonzero(shape.any(axis=1)), np.flatnonzero(shape.any(axis=0))
    if not len(rows) or not in_the_middle(rows[0], rows[-1] + 1, span_top, span_bottom,
                                          PLUS_CLEAR):
        return False
    cross = shape[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height, width = cross.shape
    if not (width >= DASH_LONG * (span_bottom - span_top) and width / 2 <= height <= 2 * width):
        return False
    third_down, third_across = height // 3, width // 3
    across = cross[height // 4:height - height // 4].any(axis=0).mean()
    upright = cross[:, width // 4:width - width // 4].any(axis=1).mean()
    corners = [cross[down, side] for down in (slice(0, third_down), slice(-third_down, None))
               for side in (slice(0, third_across), slice(-third_across, None))]
    corner_ink = sum(int(corner.sum()) for corner in corners)
    return bool(across >= PLUS_BAR and upright >= PLUS_BAR
                and corner_ink <= PLUS_CORNERS * 4 * third_down * third_across)


def in_the_middle(top: int, bottom: int, span_top: int, span_bottom: int,
                  clear: float = SIGN_CLEAR) -> bool:
    """Whether rows ``top`` to ``bottom`` leave ``clear`` of the rows ``span_top`` to
    ``span_bottom`` clear above and below them."""
    margin = clear * (span_bottom - span_top)
    return span_top + margin <= top and bottom <= span_bottom - margin


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

#: A piece between two digits of a parting, with gaps of ``CLOSE_WIDE_GAP`` or wider on both
#: sides, is a dash that goes with neither when it is this many times as wide as tall or more,
#: this share of the part's height long or longer, and leaves ``SIGN_CLEAR`` of the height
#: clear above and below. photos.py's three digits with dashes 10% of their height apart (one
#: part, as ``digit_columns`` found it) read 35.5% right, now 91.0%, and no other row moved.
#: Any piece in the middle (a plus, an equals sign) cost its pen-drawn numbers 0.5-2.5 points
#: in four rows (a 4's arm, or a broken stroke, dropped); the dash's shape without the wide
#: gaps, 0.5 in two (a 4's bar, broken off by gaps of 3-4% of the height, dropped). A minus
#: before a number has the same shape (``is_sign``; in a parting, before its first digit with
#: such a gap after it).
DASH_FLAT, DASH_LONG = 2, 0.25

#: ...and no taller than this share of the height (a pen-drawn 4's arm broken off, a cup
#: 0.33 of the height tall and 2.5 times as wide, read as a minus before the number).
DASH_THIN = 0.2

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
    columns -> MNIST image; ``read``: images -> the model's probabilities). A dash before or
    between its digits (``is_close_dash``), or a plus before, between or after them
    (``is_plus``), with gaps ``CLOSE_WIDE_GAP`` wide or wider beside it, goes with none."""
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

    @cache
    def is_sign_run(i: int, j: int) -> bool:
        """A dash (not last) or a plus, with wide gaps on the sides that have pieces."""
        if not ((i == 0 or seams[i - 1] in wide_gaps)
                and (j == len(starts) or seams[j - 1] in wide_gaps)):
            return False
        run = inked[:, starts[i]:stops[j - 1]]
        return ((j < len(starts) and is_close_dash(run, rows[0], rows[-1] + 1))
                or is_plus(run, rows[0], rows[-1] + 1))

    def cols(i: int, j: int) -> slice:
        return slice(columns.start + starts[i], columns.start + stops[j - 1])

    # (the digits, whether each must read CLOSE_DIGIT_PROBABILITY or more, what the digits'
    # mean log probability must beat beyond the whole part's)
    partings = []
    for cuts in itertools.product((False, True), repeat=len(cuttable)):
        cut = [k for k, chosen in zip(cuttable, cuts) if chosen]
        ends = [0, *(k + 1 for k in cut), len(starts)]
        runs = list(zip(ends[:-1], ends[1:]))
        digits = [run for run in runs if not is_sign_run(*run)]
        # Two digits or more, or one whose sign was left out; never none (a run that reaches
        # the part's top or bottom row is no sign).
        if (len(digits) > 1 or len(digits) < len(runs)) and all(is_digit(*d) for d in digits):
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


def is_close_dash(piece: np.ndarray, top: int, bottom: int) -> bool:
    """Whether ``piece``, an ink mask (the part's rows, the piece's columns) of a part whose ink
    lies in rows ``top`` to ``bottom``, is a dash beside it (``is_dash``)."""
    piece_rows = np.flatnonzero(piece.any(axis=1))
    return is_dash(piece.shape[1], piece_rows[0], piece_rows[-1] + 1, top, bottom)


def is_dash(width: int, top: int, bottom: int, span_top: int, span_bottom: int) -> bool:
    """Whether ink ``width`` columns wide in rows ``top`` to ``bottom`` is a dash beside ink in
    rows ``span_top`` to ``span_bottom``: ``DASH_FLAT`` times as wide as tall, ``DASH_LONG`` of
    that height long, ``DASH_THIN`` of it tall or less, in the middle of it
    (``in_the_middle``)."""
    return bool(width >= DASH_FLAT * (bottom - top)
                and width >= DASH_LONG * (span_bottom - span_top)
                and bottom - top <= DASH_THIN * (span_bottom - span_top)
                and in_the_middle(top, bottom, span_top, span_bottom))


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
