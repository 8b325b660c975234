"""A photo or scan of digits on paper (grayscale in [0, 1]) -> the ink alone, bright on 0
(``digit_ink``): inverted when the ink is darker than the paper; a desk around the sheet
(``sheet_of_paper``, which also turns the sheet upright) or along sides of the photo
(``desk_along_sides``) left out; the paper's own level, shadows and vignettes included
(``paper_level``), the lines of ruled or grid paper (``ruled_lines``) and the paper's noise
(``noise_floor``) taken away. ``digits`` finds the digits in what is left.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
from PIL import Image
from scipy.ndimage import binary_erosion, binary_fill_holes, label
from scipy.spatial import ConvexHull

from .images import ImageError
from .ruled_lines import take_out_ruled_lines

#: The shorter side, in pixels, of the copy on which a desk around the paper is looked for:
#: ink strokes still show at that size (sheet_of_paper), and a 48-megapixel photo took 1.9 s
#: to search at full size.
PREVIEW_SIDE = 512


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


def shrunk(gray: np.ndarray, side: int = 128) -> np.ndarray:
    """``gray`` averaged down to ``side`` pixels on its shorter side (itself if no larger)."""
    h, w = gray.shape
    scale = side / min(h, w)
    if scale >= 1:
        return gray
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))


def in_photo(box: tuple[slice, slice], preview_shape: tuple[int, int],
             shape: tuple[int, int]) -> tuple[slice, slice]:
    """A box of pixels of a preview, as the box of the photo's pixels that it covers (each
    preview pixel averages a block of the photo: the start rounds down, the stop up)."""
    return tuple(slice(part.start * size // preview_size, -(-part.stop * size // preview_size))
                 for part, size, preview_size in zip(box, shape, preview_shape))


#: A bold upright "1" light on black is a bar of light with grey along it (the digit's
#: antialiased edges, or a line between two strokes), like a sheet with ink: enlarged to 84-280
#: pixels, 2 to 5 of MNIST's 10,000 test digits, all such 1s, passed for sheets, and the digit
#: was taken for the paper ("no digit found", or a wrong digit). Their bars were 3.1-9.9 times
#: as long as wide, their grey along 86-99% of their length. A quadrilateral more than
#: ``MAX_SHEET_ASPECT`` times as long as wide (A4, 1.41, seen from 62 degrees off straight
#: ahead: 3) whose ink runs along ``STROKE_INK_LENGTH`` of its length or more is such a stroke;
#: a strip of paper with a digit or a number on it, its ink ending short of its ends, is not.
MAX_SHEET_ASPECT, STROKE_INK_LENGTH = 3.0, 0.8


#: The fewest pixels of ink (on the preview) a sheet holds. Enlarged (bicubic) to 84 and 112
#: pixels, two bold 1s of MNIST's test digits, light bars with one grey pixel inside, passed
#: for strips of paper: "no digit found". One pixel is the enlargement's, not a mark.
MIN_SHEET_INK = 4


def sheet_of_paper(gray: np.ndarray, preview: np.ndarray, edge: float
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """A photo of a sheet on a darker desk (``preview``: a smaller copy of it, ``edge``: the
    median of its edge pixels) cut to the sheet and, if it lies wholly in the photo, turned
    upright (``upright_sheet``), and the mask of the desk left in it; None for anything else.

    Its edges are dark, as those of a light digit on black, so the sheet itself would be taken
    for the digit. A sheet is the largest bright region, holes (the ink) filled, that is mostly
    bright inside (85% or more), since ink is thin, but holds some ink: 0.1% of it or more, and
    ``MIN_SHEET_INK`` pixels or more, at least a quarter of the way from the paper's level to
    the desk's (a pen's line, averaged on the preview, can be fainter than the bright
    threshold). A light digit's filled outline (a "0" is a disc) is half hollow, or (a bold "0"
    whose hole closed) has no dark inside at all. The region must also cover 40% of the image or
    more (at a 30% rule, 15 of MNIST's 10,000 test digits still passed for sheets, at 40% none),
    or be a quadrilateral: fill 90% or more of its ``enclosing_quadrilateral``, not be a
    ``light_stroke``, and cover 5% or more. A sheet filled 98-100% at any angle, and 99% seen at
    an angle with its far edge 50-80% as wide as its near one; of the MNIST test digits under
    40% that passed the other tests, the fullest filled 86% at 28 pixels and 87% at 112 (10,000
    and 3,000). A quadrilateral need only be 60% bright: a bold digit on a small sheet inks more
    of it (photos.py's sheet 30% of the photo, the digit across 91% of its width: 31 of 200
    sheets were 76-85% bright, and 26 digits read wrong, 25 as a 0). With that, none of those
    13,000 MNIST images passed (nor at 50%), but enlarged, 2 to 5 bold 1s of the 10,000 did;
    told apart as light strokes, none of the 10,000 at 28, 84, 112, 140, 200 or 280 pixels
    (bilinear; bicubic, two with one grey pixel inside until ``MIN_SHEET_INK``).

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
    ink_level = paper - 0.25 * (paper - edge)
    if bright_share < 0.6 or np.count_nonzero(values < ink_level) < max(
            0.001 * values.size, MIN_SHEET_INK):
        return None
    corners = enclosing_quadrilateral(region)  # after the cheaper tests, which most digits fail
    quadrilateral = (np.count_nonzero(region) / polygon_area(corners) >= 0.9
                     and not light_stroke(region, corners, inside & (preview < ink_level)))
    if not quadrilateral and (area < 0.4 or bright_share < 0.85):
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


def light_stroke(region: np.ndarray, corners: np.ndarray, ink: np.ndarray) -> bool:
    """Whether a ``region`` of light (a mask) in the quadrilateral ``corners`` ((4, 2): x, y)
    with ``ink`` in it (a mask) is a bold stroke of a light digit rather than a sheet: the
    quadrilateral more than ``MAX_SHEET_ASPECT`` times as long as wide, the ink along
    ``STROKE_INK_LENGTH`` of the region's length or more."""
    along, aspect = long_axis(corners)
    if aspect <= MAX_SHEET_ASPECT:
        return False

    def length(mask: np.ndarray) -> float:
        rows, columns = np.nonzero(mask)
        return float(np.ptp(columns * along[0] + rows * along[1]))

    return length(ink) >= STROKE_INK_LENGTH * length(region)


def long_axis(quadrilateral: np.ndarray) -> tuple[np.ndarray, float]:
    """The unit vector along a quadrilateral's (4, 2) longer pair of opposite sides (its first
    side's direction, or its second's), and how many times as long as wide it is: the longer
    pair's summed lengths over the shorter pair's (a sheet seen at an angle is a trapezoid)."""
    sides = np.roll(quadrilateral, -1, axis=0) - quadrilateral
    lengths = np.hypot(*sides.T)
    pairs = lengths[0] + lengths[2], lengths[1] + lengths[3]
    longer = int(pairs[1] > pairs[0])
    return sides[longer] / lengths[longer], float(max(pairs) / min(pairs))


def aspect_ratio(quadrilateral: np.ndarray) -> float:
    """How many times as long as wide a quadrilateral (4, 2) is (``long_axis``)."""
    return long_axis(quadrilateral)[1]


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
