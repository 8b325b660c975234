"""How well `predict` reads digits from photo-like images: test digits drawn large on paper,
under a shadow, a vignette, noise or JPEG compression, clean renders at several sizes, and
numbers of two to four test digits side by side.

Each image goes through `predict`'s own preparation (``digits.to_mnist_digits``, with the
model's reading to part digits written close together) and the model; the table gives the
share read right (every digit, and no more), how many images held "no digit" and how many
were read with another count of digits than they hold.

    .venv/bin/python experiments/photos.py [--model data/model/model.npz]
        [--test data/prepared/test.npz] [--digits 200] [--jobs N]

Needs a trained model and the prepared test split (`make repro`).
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import cache, partial
from multiprocessing import get_context

import numpy as np
from PIL import Image
from scipy.ndimage import (binary_dilation, distance_transform_edt, gaussian_filter,
                           grey_dilation, maximum_filter)
from threadpoolctl import threadpool_limits

from mnist_mlp.errors import UserError
from mnist_mlp.digits import to_mnist_digits
from mnist_mlp.images import ImageError
from mnist_mlp.paper import perspective_map
from mnist_mlp.predict import model_reading
from mnist_mlp.splits import load_split


def on_paper(pixels: np.ndarray, size: int = 300) -> np.ndarray:
    """A 28x28 digit in [0, 1], drawn 200 pixels tall, dark, on white paper size x size."""
    digit = Image.fromarray((pixels.reshape(28, 28) * 255).astype(np.uint8))
    ink = np.asarray(digit.resize((200, 200), Image.Resampling.BILINEAR), np.float32) / 255
    paper = np.ones((size, size), np.float32)
    top = (size - 200) // 2
    paper[top:top + 200, top:top + 200] -= ink
    return paper


def number_on_paper(digits: np.ndarray, gap: float, index: int,
                    dashed: bool = False, sign: str = "", after: str = "") -> np.ndarray:
    """Digits (n, 784) in [0, 1] written side by side as a number, dark on white paper: each
    digit's box 160 pixels tall give or take 10% (drawn at random per ``index``), bottoms
    level, ``gap`` times 160 pixels apart, with 80 pixels of paper around; ``dashed``, with a
    dash between each two, 64 pixels long and 16 thick (MNIST's strokes are a tenth of its
    digits' height), at half their height, ``gap`` times 160 pixels from each; ``sign`` "-"
    or "+", with such a dash before the first, or a plus (that dash crossed by one as long,
    upright); ``after``, with one after the last."""
    rng = np.random.default_rng(index)
    drawn = []
    for pixels in digits:
        digit = pixels.reshape(28, 28)
        rows = np.flatnonzero(digit.max(axis=1) > 0.1)
        cols = np.flatnonzero(digit.max(axis=0) > 0.1)
        box = digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        height = round(160 * rng.uniform(0.9, 1.1))
        width = max(1, round(box.shape[1] * height / box.shape[0]))
        drawn.append(np.asarray(Image.fromarray((box * 255).astype(np.uint8)).resize(
            (width, height), Image.Resampling.BILINEAR), np.float32) / 255)
    space = round(gap * 160)
    height = max(d.shape[0] for d in drawn)
    dash = np.zeros((height, 64), np.float32)
    dash[height // 2 - 8:height // 2 + 8] = 1
    if dashed:
        drawn = [part for d in drawn for part in (d, dash)][:-1]
    plus = dash.copy()
    plus[height // 2 - 32:height // 2 + 32, 24:40] = 1
    signs = {"": [], "-": [dash], "+": [plus]}
    drawn = [*signs[sign], *drawn, *signs[after]]
    return 1 - np.pad(side_by_side(drawn, space), 80)


def pen_number(digits: np.ndarray, gap: float) -> np.ndarray:
    """Digits (n, 784) in [0, 1] drawn with ``pen``'s line 1.2% of 600 pixels, side by side,
    each cropped to its ink and as tall as MNIST made it, bottoms level, ``gap`` times the
    tallest's height apart, with 200 pixels of paper around."""
    drawn = []
    for pixels in digits:
        ink = 1 - pen(pixels, 3)
        rows = np.flatnonzero(ink.max(axis=1) > 0.1)
        cols = np.flatnonzero(ink.max(axis=0) > 0.1)
        drawn.append(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    return 1 - np.pad(side_by_side(drawn, round(gap * max(d.shape[0] for d in drawn))), 200)


def side_by_side(drawn: list[np.ndarray], space: int) -> np.ndarray:
    """Ink images (bright) next to each other, ``space`` pixels apart, bottoms level."""
    ink = np.zeros((max(d.shape[0] for d in drawn),
                    sum(d.shape[1] for d in drawn) + space * (len(drawn) - 1)), np.float32)
    left = 0
    for d in drawn:
        ink[ink.shape[0] - d.shape[0]:, left:left + d.shape[1]] = d
        left += d.shape[1] + space
    return ink


def shadow(depth: float):
    return lambda photo, rng: photo - depth * np.linspace(0, 1, photo.shape[1])[None, :]


def vignette(depth: float):
    def darken(photo, rng):
        h, w = photo.shape
        y, x = np.mgrid[0:h, 0:w]
        corner = (w / 2) ** 2 + (h / 2) ** 2
        return photo - depth * ((x - w / 2) ** 2 + (y - h / 2) ** 2) / corner
    return darken


def noise(deviation: float):
    return lambda photo, rng: photo + rng.normal(0, deviation, photo.shape)


def jpeg(quality: int):
    def compress(photo, rng):
        buffer = io.BytesIO()
        Image.fromarray((np.clip(photo, 0, 1) * 255).astype(np.uint8)).save(buffer, "JPEG",
                                                                            quality=quality)
        return np.asarray(Image.open(buffer), np.float32) / 255
    return compress


def on_desk(pixels: np.ndarray, sheet: int = 280, turn: float = 0.0, photo: int = 400,
            digit_upright: bool = False) -> np.ndarray:
    """The digit on a sheet ``sheet`` pixels wide, turned ``turn`` degrees, on a dark desk that
    fills a ``photo``-pixel photo's edges. The digit turns with the sheet, as written along
    it, or with ``digit_upright`` stays upright in the photo."""
    drawn = np.ones((sheet, sheet), np.float32) if digit_upright else on_paper(pixels, sheet)
    paper = Image.fromarray(drawn).rotate(turn, Image.Resampling.BILINEAR, expand=True,
                                          fillcolor=0.25)
    desk = np.full((photo, photo), 0.25, np.float32)
    top = (photo - paper.height) // 2
    left = (photo - paper.width) // 2
    desk[top:top + paper.height, left:left + paper.width] = np.asarray(paper)
    if digit_upright:
        middle = (photo - sheet) // 2
        view = desk[middle:middle + sheet, middle:middle + sheet]
        np.minimum(view, on_paper(pixels, sheet), out=view)
    return desk


def ruled(spacing: float = 0.08, darkness: float = 0.3, grid: bool = False, turn: float = 0.0):
    """Lines printed on the paper, ``darkness`` below it (light blue ruling in grayscale is
    ~0.3 below white), 2 pixels wide, every ``spacing`` of the height; ``grid`` adds columns.
    ``turn`` turns the lines (not the digit) by that many degrees."""
    def rule(photo, rng):
        step = max(3, round(spacing * photo.shape[0]))
        y, x = np.mgrid[0:photo.shape[0], 0:photo.shape[1]]
        c, s = np.cos(np.radians(turn)), np.sin(np.radians(turn))
        lines = np.floor(y * c - x * s + step // 2) % step < 2
        if grid:
            lines |= np.floor(x * c + y * s + step // 2) % step < 2
        # Multiplied, so the ink over a line stays as dark as the ink elsewhere or darker.
        return np.where(lines, photo * (1 - darkness), photo)
    return rule


def speck(size: int, top: float, left: float):
    """A dark square ``size`` pixels wide (dust, a dot of the pen) with its corner at ``top``
    and ``left`` times the photo's height and width."""
    def stain(photo, rng):
        photo = photo.copy()
        y, x = int(top * photo.shape[0]), int(left * photo.shape[1])
        photo[y:y + size, x:x + size] = 0.1
        return photo
    return stain


def desk_along(sides: str, depth: float = 0.1, slant: float = 0.0):
    """A dark desk (25% of white) along ``sides`` of the photo (l, t, r, b), ``depth`` of its
    width deep; ``slant`` tilts the paper's edge, from (1 - slant) to (1 + slant) times that
    depth from one end of the side to the other."""
    def cover(photo, rng):
        photo = photo.copy()
        for side in sides:
            view = np.rot90(photo, "ltrb".index(side))  # a view whose left column is that side
            h, w = view.shape
            reach = depth * w * np.linspace(1 - slant, 1 + slant, h)
            view[np.arange(w)[None, :] < reach[:, None]] = 0.25
        return photo
    return cover


def enlarged(photo: np.ndarray, side: int) -> np.ndarray:
    """The photo ``side`` pixels wide, enlarged bilinearly: every edge becomes a soft band
    several pixels wide, as a camera's photo of a sheet has."""
    return np.asarray(Image.fromarray(photo).resize((side, side), Image.Resampling.BILINEAR))


def seen_at_an_angle(pixels: np.ndarray, far: float, photo: int = 626, paper=()) -> np.ndarray:
    """The 280-pixel sheet photographed at an angle: its far (top) edge ``far`` times as wide
    as its near one, in perspective, on a dark desk that fills the photo's edges. ``paper``:
    steps applied to the sheet first (``ruled``)."""
    size = 280
    inset = (1 - far) * size / 2
    # PERSPECTIVE takes the map from the output's pixels to the input's: solved from where the
    # sheet's four corners go.
    corners = np.array([(0, 0), (size, 0), (size, size), (0, size)], float)
    placed = np.array([(inset, 0), (size - inset, 0), (size, size), (0, size)], float)
    sheet = Image.fromarray(apply(on_paper(pixels, size), paper, 0)).transform(
        (size, size), Image.Transform.PERSPECTIVE, perspective_map(placed, corners),
        Image.Resampling.BILINEAR, fillcolor=0.25)
    desk = Image.new("F", (photo, photo), 0.25)
    desk.paste(sheet, ((photo - size) // 2, (photo - size) // 2))
    return np.asarray(desk)


def pen(pixels: np.ndarray, radius: int, size: int = 600) -> np.ndarray:
    """The digit redrawn with a pen's thin line, ``2 * radius + 1`` pixels wide, ``size``
    pixels tall on paper: the ridge of its strokes (where the distance to the paper peaks),
    widened to a disc, slightly blurred as a lens does. MNIST's strokes are ~10% of the
    digit's height; a pen's 1-2%."""
    img = Image.fromarray((pixels.reshape(28, 28) * 255).astype(np.uint8))
    ink = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), np.float32) > 127
    distance = distance_transform_edt(ink)
    ridge = ink & (distance >= maximum_filter(distance, 5)) & (distance > 2)
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    line = binary_dilation(ridge, structure=x * x + y * y <= radius * radius)
    return np.pad(1 - gaussian_filter(line.astype(np.float32), 1.0), size // 4, constant_values=1)


def pen_on_desk(pixels: np.ndarray, index: int) -> np.ndarray:
    """Everything at once: the digit in pen (strokes 1.75% of its height) on a sheet that is a
    quarter of a 1,200-pixel photo, turned 10 degrees, under a shadow, with noise, a blot on
    the desk and JPEG compression."""
    sheet = Image.fromarray(pen(pixels, 3, size=400)).rotate(10, Image.Resampling.BILINEAR,
                                                             expand=True, fillcolor=0.3)
    photo = np.full((1200, 1200), 0.3, np.float32)
    top, left = (1200 - sheet.height) // 2, (1200 - sheet.width) // 2
    photo[top:top + sheet.height, left:left + sheet.width] = np.asarray(sheet)
    photo = apply(photo, [shadow(0.25), noise(0.02), speck(8, 0.1, 0.8)], index)
    return apply(np.clip(photo, 0, 1).astype(np.float32), [jpeg(70)], index)


def tight_bold(pixels: np.ndarray) -> np.ndarray:
    """The digit's central 20x20 drawn 100 pixels wide with 9-pixel-thick strokes, no margin."""
    digit = Image.fromarray((pixels.reshape(28, 28) * 255).astype(np.uint8)).crop((4, 4, 24, 24))
    ink = np.asarray(digit.resize((100, 100), Image.Resampling.BILINEAR), np.float32) / 255
    return 1 - grey_dilation(ink, size=(9, 9))


def render(size: int):
    """Clean renders: the 28x28 digit resized to size x size; every other one light on dark."""
    def draw(pixels, index):
        img = Image.fromarray((pixels.reshape(28, 28) * 255).astype(np.uint8))
        drawn = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), np.float32) / 255
        return drawn if index % 2 else 1 - drawn
    return draw


PHOTOS = {  # on paper, then these in order
    "clean": [],
    "shadow to 80% of white": [shadow(0.2)],
    "shadow to 50%": [shadow(0.5)],
    "shadow to 40%, noise 0.05": [shadow(0.6), noise(0.05)],
    "vignette, corners 40% darker": [vignette(0.4)],
    "noise 0.06": [noise(0.06)],
    "noise 0.1": [noise(0.1)],
    "JPEG quality 30, shadow to 70%": [shadow(0.3), jpeg(30)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/model/model.npz")
    parser.add_argument("--test", default="data/prepared/test.npz")
    parser.add_argument("--digits", type=int, default=200, help="test digits per row")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="rows read at once, each in its own process (default: one per CPU)")
    args = parser.parse_args()
    try:  # a missing or unreadable file: one line, before any process starts
        loaded(args.model, args.test, args.digits)
    except UserError as exc:
        parser.exit(1, f"error: {exc}\n")
    names = list(cases())
    print(f"{'images':44s} {'right':>7s} {'no digit':>9s} {'miscount':>9s}  "
          f"({args.digits} images each; miscount: read with another count of digits)")
    rows = partial(score, model_path=args.model, test_path=args.test, digits=args.digits)
    # Spawned, not forked: a forked child inherits OpenBLAS's and numba's pools, not their threads.
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"),
                                 initializer=threadpool_limits, initargs=(1,)) as pool:
            for name, result in zip(names, pool.map(rows, names)):
                print_row(name, *result)
    else:
        for name in names:
            print_row(name, *rows(name))


def print_row(name: str, right: int, blank: int, miscount: int, images: int) -> None:
    print(f"{name:44s} {right / images:7.1%} {blank:9d} {miscount:9d}", flush=True)


def cases() -> dict[str, tuple[int, Callable[[np.ndarray, int], np.ndarray]]]:
    """Each row's name -> (how many test digits an image holds, (their pixels (n, 784), the
    image's index) -> the photo)."""
    cases = {f"photo: {name}": (lambda p, i, steps=steps: apply(on_paper(p), steps, i))
             for name, steps in PHOTOS.items()}
    cases["dim paper (40% of white), shadow"] = lambda p, i: apply(
        on_paper(p) * 0.4, [shadow(0.1)], i)
    cases["light digit on mid-grey (60%)"] = lambda p, i: 0.6 + 0.4 * (1 - on_paper(p))
    cases["tight crop, bold strokes"] = lambda p, i: tight_bold(p)
    cases["a 3-pixel speck near a corner"] = lambda p, i: apply(
        on_paper(p), [speck(3, 0.08, 0.08)], i)
    cases["a 12-pixel blot under the digit"] = lambda p, i: apply(
        on_paper(p), [speck(12, 0.85, 0.5)], i)
    for radius in (6, 3, 1):
        cases[f"pen, strokes {(2 * radius + 1) / 600:.1%} of the height"] = (
            lambda p, i, radius=radius: pen(p, radius))
    cases["ruled paper, lines 30% darker"] = lambda p, i: apply(on_paper(p), [ruled()], i)
    cases["grid paper, lines 15% darker"] = lambda p, i: apply(
        on_paper(p), [ruled(0.05, 0.15, grid=True)], i)
    cases["ruled, lines turned 7 degrees, shadow, noise"] = lambda p, i: apply(
        on_paper(p), [ruled(turn=7), shadow(0.3), noise(0.03)], i)
    cases["pen on ruled paper, strokes 1.2%"] = lambda p, i: apply(pen(p, 3), [ruled()], i)
    cases["ruled sheet 18%, far edge 80%"] = lambda p, i: seen_at_an_angle(
        p, 0.8, paper=[ruled()])
    cases["sheet on a dark desk, 49% of the photo"] = lambda p, i: on_desk(p)
    cases["the sheet turned 15 degrees"] = lambda p, i: on_desk(p, turn=15)
    cases["the sheet 40% of the photo, shadow, noise"] = lambda p, i: apply(
        on_desk(p, sheet=253), [shadow(0.3), noise(0.03)], i)
    cases["the sheet 49%, noise 0.03"] = lambda p, i: apply(on_desk(p), [noise(0.03)], i)
    cases["the sheet turned 15 degrees, the digit not"] = lambda p, i: on_desk(
        p, turn=15, digit_upright=True)
    cases["the sheet turned 15 degrees, shadow"] = lambda p, i: apply(
        on_desk(p, turn=15), [shadow(0.3)], i)
    cases["the sheet 30% of the photo"] = lambda p, i: on_desk(p, sheet=219)
    cases["the sheet 10% of the photo"] = lambda p, i: on_desk(p, photo=885)
    cases["sheet 20%, turned 15 degrees, shadow, noise"] = lambda p, i: apply(
        on_desk(p, turn=15, photo=626), [shadow(0.3), noise(0.03)], i)
    cases["sheet 18%, far edge 80% as wide as near"] = lambda p, i: seen_at_an_angle(p, 0.8)
    cases["sheet 17%, far edge 70%"] = lambda p, i: seen_at_an_angle(p, 0.7)
    cases["sheet 15%, far edge 50%"] = lambda p, i: seen_at_an_angle(p, 0.5)
    cases["desk along one side, 10% of the photo"] = lambda p, i: apply(
        on_paper(p), [desk_along("l")], i)
    cases["desk along one side, 20%, its edge slanted"] = lambda p, i: apply(
        on_paper(p), [desk_along("r", 0.2, slant=0.5)], i)
    cases["desk along two sides, 15%, edges slanted"] = lambda p, i: apply(
        on_paper(p), [desk_along("lb", 0.15, slant=0.5)], i)
    cases["desk along one side, 10%, shadow, noise"] = lambda p, i: apply(
        on_paper(p), [desk_along("t"), shadow(0.3), noise(0.03)], i)
    cases["desk along one side, 10%, noise 0.03"] = lambda p, i: apply(
        on_paper(p), [desk_along("l"), noise(0.03)], i)
    cases["pen, small turned sheet, shadow, noise, JPEG"] = pen_on_desk
    cases["the 49% sheet's photo enlarged to 2,000 px"] = lambda p, i: enlarged(on_desk(p), 2000)
    cases.update({f"clean render, {size} px": render(size) for size in (28, 56, 112, 300)})
    # Numbers: the test digits from the image's index on, as many as the number has.
    numbers = {
        "2 digits, 20% of their height apart": (2, lambda ps, i: number_on_paper(ps, 0.2, i)),
        "3 digits, 15% apart, shadow, noise": (3, lambda ps, i: apply(
            number_on_paper(ps, 0.15, i), [shadow(0.3), noise(0.03)], i)),
        "3 digits, 15% apart, a third of the photo": (3, lambda ps, i: np.pad(
            number_on_paper(ps, 0.15, i), 150, constant_values=1)),
        "3 digits in pen, strokes 1.2%, 25% apart": (3, lambda ps, i: pen_number(ps, 0.25)),
        "4 digits, 30% apart, JPEG 70": (4, lambda ps, i: apply(
            number_on_paper(ps, 0.3, i), [jpeg(70)], i)),
        "2 digits, a dash between, 20% apart": (2, lambda ps, i: number_on_paper(
            ps, 0.2, i, dashed=True)),
        "3 digits, dashes between, 10% apart": (3, lambda ps, i: number_on_paper(
            ps, 0.1, i, dashed=True)),
        "a digit, a minus before, 20% apart": (1, lambda ps, i: number_on_paper(
            ps, 0.2, i, sign="-")),
        "2 digits, a minus before, 20% apart": (2, lambda ps, i: number_on_paper(
            ps, 0.2, i, sign="-")),
        "a digit, a plus before, 20% apart": (1, lambda ps, i: number_on_paper(
            ps, 0.2, i, sign="+")),
        "2 digits, a plus before, 20% apart": (2, lambda ps, i: number_on_paper(
            ps, 0.2, i, sign="+")),
        "2 digits, a plus after, 20% apart": (2, lambda ps, i: number_on_paper(
            ps, 0.2, i, after="+")),
        "2 digits, 5% apart": (2, lambda ps, i: number_on_paper(ps, 0.05, i)),
        "3 digits, 4% apart, shadow, noise": (3, lambda ps, i: apply(
            number_on_paper(ps, 0.04, i), [shadow(0.3), noise(0.03)], i)),
        "3 digits in pen, strokes 1.2%, 8% apart": (3, lambda ps, i: pen_number(ps, 0.08)),
        "3 digits in pen, strokes 1.2%, 5% apart": (3, lambda ps, i: pen_number(ps, 0.05)),
        "2 digits, 2% apart": (2, lambda ps, i: number_on_paper(ps, 0.02, i)),
        "2 digits, boxes touching": (2, lambda ps, i: number_on_paper(ps, 0.0, i)),
        "3 digits, boxes touching, shadow, noise": (3, lambda ps, i: apply(
            number_on_paper(ps, 0.0, i), [shadow(0.3), noise(0.03)], i)),
        "3 digits in pen, strokes 1.2%, boxes touching": (3, lambda ps, i: pen_number(ps, 0.0)),
    }
    cases.update({name: (1, lambda ps, i, draw=draw: draw(ps[0], i))
                  for name, draw in cases.items()})
    cases.update(numbers)
    return cases


@cache
def loaded(model_path: str, test_path: str, digits: int):
    """The model's reading, and the first ``digits`` test digits' pixels in [0, 1] and labels:
    once per process."""
    read = model_reading(model_path)
    test = load_split(test_path)
    pixels = test.x[:digits] * test.normalization.std + test.normalization.mean
    return read, np.clip(pixels, 0, 1), test.y[:digits]


def score(name: str, model_path: str, test_path: str,
          digits: int) -> tuple[int, int, int, int]:
    """One row: how many of its images read right, held no digit or held another count, and
    how many there are."""
    read, pixels, labels = loaded(model_path, test_path, digits)
    count, draw = cases()[name]
    right = blank = miscount = 0
    for index in range(len(labels)):
        held = [(index + k) % len(labels) for k in range(count)]
        try:
            prepared = to_mnist_digits(np.clip(draw(pixels[held], index), 0, 1)
                                       .astype(np.float32), read=read)
        except ImageError:
            blank += 1
            continue
        if len(prepared) != count:
            miscount += 1
            continue
        right += bool(np.array_equal(read(prepared).argmax(axis=1), labels[held]))
    return right, blank, miscount, len(labels)


def apply(photo: np.ndarray, steps, index: int) -> np.ndarray:
    rng = np.random.default_rng(index)  # the same noise for the same digit in every run
    for step in steps:
        photo = step(photo, rng)
    return photo


if __name__ == "__main__":
    main()
