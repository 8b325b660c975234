"""Lines printed on the paper (ruled or grid paper), found in a photo's ink map and taken out.

Printed lines are straight, parallel, evenly spaced and cross the whole sheet; a digit's
strokes are none of these. The lines are looked for on a copy of the ink map at most
``LINE_SIDE`` pixels on its shorter side, each of its pixels the largest of the block of the
photo it stands for, so that a thin line keeps its darkness. Across the lines, the copy's
pixels are counted into one-pixel-wide rows turned by each angle tried: at the lines' own
angle, the rows on a line are inked along nearly all of their length (``LINE_COVERAGE``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import median

#: The shorter side, in pixels, of the copy the lines are looked for on.
LINE_SIDE = 256
#: The share of a turned row, on paper, that must be inked for it to lie on a printed line.
LINE_COVERAGE = 0.9
#: How far from horizontal (or vertical) lines are looked for, in degrees.
MAX_TURN = 10.0


def take_out_ruled_lines(ink: np.ndarray, desk: np.ndarray | None,
                         noise_reach: Callable[[int], float]) -> np.ndarray | None:
    """Take the lines printed on the paper out of ``ink`` (h, w; bright, the paper's level 0,
    the desk 0 where ``desk`` is set), in place, if it is ruled or grid paper, and return the
    mask of the pixels they were taken from (None: no lines). ``noise_reach(n)``: how high the
    paper's noise reaches among n of its pixels.

    This comes before the noise floor is taken off the ink, and the floor is then measured
    off the lines: a line little darker than the floor kept scattered pixels above it, too
    few to be found as a line, enough to widen the digit's crop. A pixel of the copy counts
    as inked above the highest of the noise in its block (and 3% of the ink's largest)."""
    block = max(1, -(-min(ink.shape) // LINE_SIDE))
    pooled = block_max(ink, block)
    paper = np.ones(pooled.shape, bool) if desk is None else block_max(~desk, block)
    inked = pooled > max(noise_reach(block * block), 0.03 * pooled.max())
    layer = np.zeros(pooled.shape, np.float32)
    for around in (0.0, 90.0):  # ruled paper has one set of lines, grid paper two
        lines = printed_lines(pooled, paper, inked, around)
        if lines is not None:
            layer += lines  # where they cross, the paper is darker still
    if not layer.any():
        return None
    on_lines = np.empty(ink.shape, bool)
    # Block by block: a whole photo's copy of the layer would take as much memory as ``ink``.
    for row, darkness in enumerate(layer):
        rows = slice(row * block, (row + 1) * block)
        darkness = np.repeat(darkness, block)[:ink.shape[1]]
        ink[rows] -= darkness
        on_lines[rows] = darkness > 0
    return on_lines


def block_max(image: np.ndarray, block: int) -> np.ndarray:
    """The largest value in each ``block`` x ``block`` tile of ``image`` (partial tiles at the
    far edges included)."""
    if block == 1:
        return image
    h, w = image.shape
    padded = np.zeros((-(-h // block) * block, -(-w // block) * block), image.dtype)
    padded[:h, :w] = image
    return padded.reshape(padded.shape[0] // block, block, -1, block).max(axis=(1, 3))


def printed_lines(ink: np.ndarray, paper: np.ndarray, inked: np.ndarray, around: float
                  ) -> np.ndarray | None:
    """The darkness of the printed lines at each pixel of ``ink`` (0 off them; ``inked``: the
    pixels with ink above the paper's noise): the lines within ``MAX_TURN`` degrees of the
    angle ``around`` (0: horizontal, 90: vertical), if ``ink`` holds four or more, evenly
    spaced; else None."""

    def coverage(angle: float) -> tuple[np.ndarray, np.ndarray]:
        rows = turned_rows(ink.shape, angle)
        length = np.bincount(rows[paper], minlength=rows.max() + 1)
        covered = np.bincount(rows[paper & inked], minlength=len(length))
        # Rows cut short by the image's corners are left out: a few pixels are easily inked.
        long = length >= 0.3 * length.max()
        return rows, np.where(long, covered / np.maximum(length, 1), 0.0)

    def sharpness(angle: float) -> float:  # highest at the lines' angle, where they are thinnest
        return float(np.sum(coverage(angle)[1] ** 2))

    coarse = max(np.arange(around - MAX_TURN, around + MAX_TURN + 0.5, 1.0), key=sharpness)
    angle = max(np.arange(coarse - 1.0, coarse + 1.05, 0.1), key=sharpness)
    rows, share = coverage(angle)
    on_line = np.concatenate([[False], share >= LINE_COVERAGE, [False]])
    starts = np.flatnonzero(~on_line[:-1] & on_line[1:])
    stops = np.flatnonzero(on_line[:-1] & ~on_line[1:])
    if not evenly_spaced(starts, stops):
        return None
    # Each line's darkness: the median along its rows, where a digit crosses it or not. A
    # digit's stroke along a line, over half its length, would set it to the stroke's and be
    # taken out with the line (the bar of a "7" over 80% of the photo's width, on a line:
    # 15 grey levels per pixel off the plain paper's digit): no line is darker than 1.25
    # times the median of it and the two lines either side.
    on_rows = np.flatnonzero(on_line[1:-1])
    row_darkness = np.zeros(len(share))
    row_darkness[on_rows] = median(ink, np.where(paper, rows + 1, 0), on_rows + 1)
    line_darkness = np.array([row_darkness[start:stop].max() for start, stop in zip(starts, stops)])
    line_darkness = np.minimum(line_darkness, 1.25 * running_median(line_darkness))
    darkness = np.zeros(len(share) + 1)
    for start, stop, line in zip(starts, stops, line_darkness):
        # Taken off one row either side too: a line's edge, turned across the rows, covers
        # part of each, and their medians can miss it.
        darkness[max(0, start - 1):stop + 1] = line
    return darkness[rows].astype(np.float32)


def turned_rows(shape: tuple[int, int], angle: float) -> np.ndarray:
    """For each pixel of an image of ``shape``, the index of the one-pixel-wide row, turned by
    ``angle`` degrees (clockwise as shown, row 0 at the top: a positive angle's rows run down
    to the right), that it falls in."""
    h, w = shape
    turn = np.radians(angle)
    across = (np.arange(h, dtype=np.float32)[:, None] * np.float32(np.cos(turn))
              - np.arange(w, dtype=np.float32)[None, :] * np.float32(np.sin(turn)))
    return np.round(across - across.min()).astype(np.intp)


def evenly_spaced(starts: np.ndarray, stops: np.ndarray) -> bool:
    """Whether the runs of rows [start, stop) look like printed lines: four or more, thin
    against the spaces between them, and spaced evenly. The spacing may change gradually, as
    on paper seen at an angle, and a line may be missing (a gap of twice the spacing), where
    the paper was not inked along all of it."""
    if len(starts) < 4:
        return False
    gaps = np.diff((starts + stops) / 2)
    local = running_median(gaps)
    steps = gaps / local
    return bool(local.min() >= 3 and np.max(stops - starts) <= 0.35 * local.min()
                and np.all(np.abs(steps - np.round(steps)) <= 0.15) and np.all(steps >= 0.85))


def running_median(values: np.ndarray) -> np.ndarray:
    """Each value's median with the two values either side (the ends repeated)."""
    padded = np.pad(values, 2, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)
