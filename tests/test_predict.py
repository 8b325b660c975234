"""predict and the modules that prepare its images (images, paper, digits): MNIST-style
preprocessing of images, CSV rows, JSON and CSV output, bad images."""

import contextlib
import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw
from scipy.ndimage import (binary_dilation, binary_fill_holes, center_of_mass, find_objects,
                           label, sum_labels)

from mnist_mlp import predict
from mnist_mlp.digits import (SMALL_DIGIT, THINNED_STROKE, digit_box, disk, mnist_field,
                              stroke_width, thin_cuts, to_mnist, to_mnist_digits, true_runs,
                              with_mnist_strokes)
from mnist_mlp.images import DECODE_SIDE, ImageError, load_image, reduction_factor
from mnist_mlp.paper import (PREVIEW_SIDE, aspect_ratio, edge_frame, enclosing_quadrilateral,
                             in_photo, perspective_map, polygon_area, sheet_of_paper, shrunk)

from conftest import REPO, synthetic_digits, write_csv


def drawn_one(size=(90, 140), ink=0, paper=255):
    img = Image.new("L", size, paper)
    ImageDraw.Draw(img).line([(50, 20), (40, 120)], fill=ink, width=12)
    return img


def test_black_on_white_becomes_white_on_black_centred_in_20x20_box():
    pixels = to_mnist(np.asarray(drawn_one(), np.float32) / 255).reshape(28, 28)
    assert pixels.dtype == np.uint8
    assert pixels[0].max() == 0 and pixels[:, 0].max() == 0  # background black
    assert pixels.max() > 200  # digit white
    rows, cols = np.nonzero(pixels > 30)
    assert rows.max() - rows.min() + 1 <= 20 and cols.max() - cols.min() + 1 <= 20
    assert rows.max() - rows.min() + 1 >= 18  # the long side fills the box
    com = center_of_mass(pixels.astype(float))
    assert abs(com[0] - 14) <= 1 and abs(com[1] - 14) <= 1


def drawn_seven():
    img = Image.new("L", (160, 200), 255)
    ImageDraw.Draw(img).line([(40, 40), (120, 40), (70, 170)], fill=20, width=14)
    return img


def test_a_digit_is_centred_by_its_mass_not_by_its_box():
    """As MNIST was made: a 7 holds much of its ink in its top bar, so its centre of mass, not
    its box's centre, goes to the field's centre (to the pixel: the shift is whole pixels), and
    the box sits 2.5 pixels low."""
    pixels = to_mnist(np.asarray(drawn_seven(), np.float32) / 255).reshape(28, 28)
    com = center_of_mass(pixels.astype(float))
    assert abs(com[0] - 14) <= 0.6 and abs(com[1] - 14) <= 0.6
    top, bottom, _, _ = ink_box(pixels)
    assert (top + bottom) / 2 - 14 >= 2


@pytest.mark.parametrize("scale, small", [(0.15, True), (0.6, False)])
def test_a_faint_fringe_is_left_out_of_a_small_digits_box_only(scale, small):
    """A JPEG's grey fringe around the strokes (a pixel-wide ring at 15% of the ink) widened a
    small digit's box by a tenth of it: a digit under ``SMALL_DIGIT`` pixels is boxed without
    it (the ring inside the box stays), a larger one with it, as before."""
    size = (round(160 * scale), round(200 * scale))
    strokes = np.asarray(drawn_seven().resize(size), np.float32) < 128
    ring = binary_dilation(strokes) & ~strokes
    fringed = strokes + 0.15 * ring.astype(np.float32)
    rows, cols = np.flatnonzero(strokes.any(axis=1)), np.flatnonzero(strokes.any(axis=0))
    assert (max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 < SMALL_DIGIT) == small
    field = mnist_field(fringed)
    strokes_box = fringed[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    assert (field == mnist_field(strokes_box)).all() == small
    if not small:
        fringed_box = fringed[rows[0] - 1:rows[-1] + 2, cols[0] - 1:cols[-1] + 2]
        assert (field == mnist_field(fringed_box)).all()
    # Ink fainter than a fifth (a digit's box beside a brighter speck) is boxed at a tenth.
    assert (mnist_field(0.15 * fringed) == mnist_field(0.15 * strokes_box)).all()


def ink_box(pixels):
    inked = pixels > 30
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


@pytest.mark.parametrize("lighting", ["shadow", "vignette", "noise", "shadow and noise"])
def test_uneven_light_and_noise_leave_the_digit_as_on_clean_paper(lighting):
    """Measured before the paper's level was fitted: the same cases moved the digit's box and
    differed from the clean digit by 18-29 gray levels per pixel on average."""
    clean = np.asarray(drawn_seven(), np.float32) / 255
    h, w = clean.shape
    y, x = np.mgrid[0:h, 0:w]
    photo = clean.copy()
    if "shadow" in lighting:  # paper from white to 55% grey, left to right
        photo -= 0.45 * x / w
    if lighting == "vignette":  # corners 40% darker
        photo -= 0.4 * ((x - w / 2) ** 2 + (y - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    if "noise" in lighting:
        photo += np.random.default_rng(0).normal(0, 0.05, photo.shape).astype(np.float32)
    expected = to_mnist(clean).astype(int).reshape(28, 28)
    got = to_mnist(np.clip(photo, 0, 1).astype(np.float32)).astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 8


def test_noise_of_a_tenth_of_white_is_taken_for_noise_not_ink():
    """Noise of σ 0.1 (clipped at white, as in photos.py's row) measures 0.080-0.104 from the
    paper's 60th percentile. Above 0.1 it was taken for ink under the edge: no noise floor was
    set, the box took in the whole image, and the digit came out smaller (seeds 1 and 2 here:
    15 pixels tall against 20, 19 gray levels per pixel from the clean digit)."""
    clean = np.asarray(drawn_seven(), np.float32) / 255
    expected = to_mnist(clean).astype(int).reshape(28, 28)
    for seed in range(4):
        noise = np.random.default_rng(seed).normal(0, 0.1, clean.shape).astype(np.float32)
        got = to_mnist(np.clip(clean + noise, 0, 1)).astype(int).reshape(28, 28)
        assert ink_box(got) == ink_box(expected), seed
        assert np.abs(got - expected).mean() < 8, seed


@pytest.mark.parametrize("paper, ink", [(0.4, 0.05), (0.6, 1.0)],
                         ids=["dark ink on dim paper", "light ink on mid-grey"])
def test_polarity_follows_the_ink_not_the_paper_brightness(paper, ink):
    """The paper's side of 0.5 decided before: both of these read as blank."""
    clean = np.asarray(drawn_seven(), np.float32) / 255  # dark ink (20) on white
    inked = 1 - clean  # 1 on the strokes, 0 on the paper
    photo = (paper + (ink - paper) * inked).astype(np.float32)
    expected = to_mnist(clean).astype(int).reshape(28, 28)
    got = to_mnist(photo).astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 8


@pytest.mark.parametrize("scale", [1, 5, 24])
def test_a_sheet_on_a_dark_desk_reads_as_the_sheet_alone(scale):
    """The desk makes the photo's edges dark, as a light digit's: the sheet was the 'digit'.
    Enlarged (bilinear, 1300 x 1100 and 6240 x 5280 pixels), the sheet's edge is a soft band
    several pixels wide, as in a camera's photo: left inside the cut-out, that band was taken
    for ink, and the digit shrank to the middle of a crop as large as the sheet."""
    sheet = np.asarray(drawn_seven(), np.float32) / 255  # 200 x 160
    photo = np.full((260, 220), 0.25, np.float32)  # the sheet covers 56% of it
    photo[30:230, 30:190] = sheet
    if scale > 1:
        photo = np.asarray(Image.fromarray(photo).resize((220 * scale, 260 * scale),
                                                         Image.Resampling.BILINEAR))
    expected = to_mnist(sheet).astype(int).reshape(28, 28)
    got = to_mnist(photo).astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 8


def test_a_small_sheet_boldly_written_on_reads_as_the_sheet_alone():
    """A digit in a broad marker across most of a small sheet inks a fifth of it: under 85%
    bright, the sheet was taken for a light digit on the dark desk (photos.py, a sheet 30% of
    the photo: 87.0% right, 25 of the 26 misses read as a 0)."""
    image = Image.new("L", (160, 200), 255)
    ImageDraw.Draw(image).line([(20, 30), (140, 30), (60, 185)], fill=20, width=30)
    sheet = np.asarray(image, np.float32) / 255
    photo = np.full((370, 330), 0.25, np.float32)  # the sheet covers 26% of it
    photo[85:285, 85:245] = sheet
    assert np.mean(sheet < 0.5) > 0.2
    expected = to_mnist(sheet).astype(int).reshape(28, 28)
    got = to_mnist(photo).astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 8


@pytest.mark.parametrize("side, depth, slant, scale", [
    (0, 0.1, 0.0, 1), (1, 0.15, 0.0, 1), (2, 0.2, 0.5, 1), (3, 0.1, 0.3, 1), (0, 0.1, 0.0, 6)])
def test_a_desk_along_one_side_is_painted_over(side, depth, slant, scale):
    """Paper that does not reach a side of the photo leaves a dark strip of desk there; the
    crop took it for ink (photos.py: 9% of digits right). Sides: left, top, right, bottom;
    enlarged 6x, the paper's edge is a soft band, as in a camera's photo."""
    clean = np.pad(np.asarray(drawn_seven(), np.float32) / 255, 60, constant_values=1)
    photo = clean.copy()
    view = np.rot90(photo, side)  # its left column is the photo's side
    reach = depth * view.shape[1] * np.linspace(1 - slant, 1 + slant, view.shape[0])
    view[np.arange(view.shape[1])[None, :] < reach[:, None]] = 0.25
    if scale > 1:
        photo = np.asarray(Image.fromarray(photo).resize(
            (photo.shape[1] * scale, photo.shape[0] * scale), Image.Resampling.BILINEAR))
    expected = to_mnist(clean).astype(int).reshape(28, 28)
    got = to_mnist(photo).astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 8


def test_a_bar_along_a_side_that_is_all_the_ink_is_the_digit():
    """A tightly cropped '1' is a straight dark strip along a side, like a desk: kept."""
    photo = np.ones((120, 60), np.float32)
    photo[:, :12] = 0.05
    got = to_mnist(photo).reshape(28, 28)
    rows, cols = np.nonzero(got > 30)
    assert rows.max() - rows.min() + 1 >= 18 and cols.max() - cols.min() + 1 <= 8


@pytest.mark.parametrize("share, turn, noisy, pen, shadow_and_jpeg", [
    (0.56, 0, True, False, False), (0.15, 0, False, False, False),
    (0.15, 12, True, False, False), (0.25, 10, True, True, True)])
def test_a_sheet_of_any_size_turned_and_noisy_reads_as_the_sheet_alone(share, turn, noisy, pen,
                                                                        shadow_and_jpeg):
    """A sheet under 40% of the photo was taken for the digit (photos.py: 8.5% right at 10%);
    noise on the sheet, which the desk painted flat hid from the noise floor, 54.5%; a pen's
    thin digit on it, under a shadow and JPEG, 10.0%. Expected: the same photo with white
    paper in place of the desk, the sheet lying straight (a turned one is turned upright)."""
    scale = 4 if pen else 1  # a pen's line, 1% of the digit: the preview averages it faint
    img = Image.new("L", (160 * scale, 200 * scale), 255)
    ImageDraw.Draw(img).line([(40 * scale, 40 * scale), (120 * scale, 40 * scale),
                              (70 * scale, 170 * scale)], fill=20, width=6 if pen else 14)
    sheet = np.pad(np.asarray(img, np.float32) / 255, 20 * scale, constant_values=1)
    side = int(np.sqrt(sheet.size / share))
    noise = np.random.default_rng(0).normal(0, 0.03 if noisy else 0, (side, side))

    def photo(desk, turn):
        turned = Image.fromarray(sheet).rotate(turn, Image.Resampling.BILINEAR, expand=True,
                                               fillcolor=desk)
        image = np.full((side, side), desk, np.float32)
        top, left = (side - turned.height) // 2, (side - turned.width) // 2
        image[top:top + turned.height, left:left + turned.width] = np.asarray(turned)
        if shadow_and_jpeg:
            image -= 0.25 * np.linspace(0, 1, side, dtype=np.float32)[None, :]
        image = np.clip(image + noise, 0, 1).astype(np.float32)
        if shadow_and_jpeg:
            buffer = io.BytesIO()
            Image.fromarray((image * 255).astype(np.uint8)).save(buffer, "JPEG", quality=70)
            image = np.asarray(Image.open(buffer), np.float32) / 255
        return image

    expected = to_mnist(photo(desk=1.0, turn=0)).astype(int).reshape(28, 28)
    got = to_mnist(photo(desk=0.25, turn=turn)).astype(int).reshape(28, 28)
    assert abs(np.subtract(ink_box(got), ink_box(expected))).max() <= 1
    assert np.abs(got - expected).mean() < 10


@pytest.mark.parametrize("turn, grid, noisy", [(0, False, False), (6, False, True),
                                               (0, True, False), (-4, True, True)])
def test_ruled_and_grid_paper_read_as_plain_paper(turn, grid, noisy):
    """Lines printed on the paper reached the crop as ink, and the digit shrank among them
    (photos.py: 33.0% right on ruled paper, 23.0% on grid paper). Expected: the same digit
    on plain paper."""
    clean = np.pad(np.asarray(drawn_seven(), np.float32) / 255, 40, constant_values=1)
    y, x = np.mgrid[0:clean.shape[0], 0:clean.shape[1]]
    c, s = np.cos(np.radians(turn)), np.sin(np.radians(turn))
    lines = (y * c - x * s) % 22 < 2
    if grid:
        lines |= (x * c + y * s) % 22 < 2
    photo = np.where(lines, clean * 0.75, clean)
    if noisy:
        photo = photo + np.random.default_rng(0).normal(0, 0.03, photo.shape)
    expected = to_mnist(clean).astype(int).reshape(28, 28)
    got = to_mnist(np.clip(photo, 0, 1).astype(np.float32)).astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 8


@pytest.mark.parametrize("bar", [0.6, 0.8])
def test_a_stroke_along_a_ruled_line_stays(bar):
    """A 7's bar over 60-80% of the photo's width, on a line: the line's median was the bar's
    ink, and the bar went with the line (12-15 grey levels per pixel off the plain paper's)."""
    img = Image.new("L", (200, 240), 255)
    ImageDraw.Draw(img).line([(100 - 100 * bar, 40), (100 + 100 * bar, 40), (110, 200)],
                             fill=20, width=14)
    clean = np.asarray(img, np.float32) / 255
    lines = (np.arange(clean.shape[0]) % 20 < 2)[:, None]  # one at rows 40-41, in the bar
    expected = to_mnist(clean).astype(int).reshape(28, 28)
    got = to_mnist(np.where(lines, clean * 0.75, clean).astype(np.float32))
    got = got.astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 4


def test_blank_ruled_paper_holds_no_digit():
    paper = np.ones((300, 240), np.float32)
    paper[np.arange(300) % 20 < 2] = 0.7
    with pytest.raises(ImageError, match="no digit found"):
        to_mnist(paper)


@pytest.mark.parametrize("far", [0.8, 0.6])
def test_a_small_sheet_seen_at_an_angle_reads_as_the_sheet_alone(far):
    """A sheet photographed at an angle is a trapezoid: its far edge 70% as wide as its near
    one, 17% of the photo, it no longer filled 90% of its turned rectangle and was taken for
    the digit (photos.py: 8.5% right). Expected: the sheet seen from straight above, on white
    paper in place of the desk: the sheet is mapped back to a rectangle."""
    sheet = np.pad(np.asarray(drawn_seven(), np.float32) / 255, 20, constant_values=1)
    h, w = sheet.shape
    side = int(np.sqrt(sheet.size / 0.17))
    top = left = (side - h) // 2

    def photo(desk, far):
        # In perspective: the top edge ``far`` times as wide as the bottom one.
        inset = (1 - far) * w / 2
        seen = np.array([(inset, 0), (w - inset, 0), (w, h), (0, h)])
        flat = np.array([(0, 0), (w, 0), (w, h), (0, h)], np.float64)
        warped = Image.fromarray(sheet).transform(
            (w, h), Image.Transform.PERSPECTIVE, perspective_map(seen, flat),
            Image.Resampling.BILINEAR, fillcolor=desk)
        image = np.full((side, side), desk, np.float32)
        image[top:top + h, left:left + w] = np.asarray(warped)
        return image

    expected = to_mnist(photo(desk=1.0, far=1.0)).astype(int).reshape(28, 28)
    got = to_mnist(photo(desk=0.25, far=far)).astype(int).reshape(28, 28)
    assert abs(np.subtract(ink_box(got), ink_box(expected))).max() <= 1
    assert np.abs(got - expected).mean() < 10


def test_a_sheet_cut_by_the_photos_edge_is_cut_out_as_it_lies():
    """Its corners are not all in the photo, so the quadrilateral around it is partly the
    photo's edge: mapped upright, the digit was turned by the sheet's visible outline.
    Expected: the same photo with white paper in place of the desk."""
    sheet = np.pad(np.asarray(drawn_seven(), np.float32) / 255, 40, constant_values=1)

    def photo(desk):
        turned = np.asarray(Image.fromarray(sheet).rotate(
            20, Image.Resampling.BILINEAR, expand=True, fillcolor=desk))
        image = np.full((turned.shape[0] + 60, turned.shape[1] + 60), desk, np.float32)
        image[30:30 + turned.shape[0], 30:30 + turned.shape[1]] = turned
        return image[:-80]  # the sheet's bottom corner out of the photo

    expected = to_mnist(photo(desk=1.0)).astype(int).reshape(28, 28)
    got = to_mnist(photo(desk=0.25)).astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 8


def test_perspective_map_takes_each_output_corner_to_its_source_corner():
    output = np.array([(0, 0), (100, 0), (100, 60), (0, 60)], np.float64)
    source = np.array([(12, 5), (90, 9), (110, 70), (3, 64)], np.float64)
    a, b, c, d, e, f, g, h = perspective_map(output, source)
    for (x, y), (u, v) in zip(output, source):
        denominator = g * x + h * y + 1
        assert np.allclose([(a * x + b * y + c) / denominator, (d * x + e * y + f) / denominator],
                           [u, v])


def quadrilateral_fill(region):
    return np.count_nonzero(region) / polygon_area(enclosing_quadrilateral(region))


def test_quadrilateral_fill_of_turned_rectangles_trapezoids_and_a_disc():
    y, x = np.mgrid[0:200, 0:200] - 99.5
    for angle in (0, 10, 30, 45):
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        rectangle = (np.abs(c * x + s * y) < 70) & (np.abs(-s * x + c * y) < 40)
        assert quadrilateral_fill(rectangle) > 0.97
        # A sheet seen at an angle: its far edge 60% as wide as its near one.
        along, across = c * x + s * y, -s * x + c * y
        trapezoid = (np.abs(across) < 60) & (np.abs(along) < 70 * (0.8 + 0.2 * across / 60))
        assert quadrilateral_fill(trapezoid) > 0.97
    # No quadrilateral around a disc is smaller than its square, of which it covers pi/4.
    assert 0.6 < quadrilateral_fill(x * x + y * y < 90 ** 2) < np.pi / 4 + 0.01


@pytest.mark.parametrize("turn", [-40, -15, 15, 40])
def test_a_turned_sheet_is_turned_upright_with_its_digit(turn):
    """A digit is written along its sheet: cut out as it lay, a sheet turned 15 degrees left
    the digit turned (photos.py: 97.5% right). Expected: the digit of the sheet lying
    straight, on the same desk."""
    sheet = np.pad(np.asarray(drawn_seven(), np.float32) / 255, 30, constant_values=1)

    def photo(turn):
        turned = Image.fromarray(sheet).rotate(turn, Image.Resampling.BILINEAR, expand=True,
                                               fillcolor=0.25)
        image = np.full((600, 600), 0.25, np.float32)
        top, left = (600 - turned.height) // 2, (600 - turned.width) // 2
        image[top:top + turned.height, left:left + turned.width] = np.asarray(turned)
        return image

    expected = to_mnist(photo(0)).astype(int).reshape(28, 28)
    got = to_mnist(photo(turn)).astype(int).reshape(28, 28)
    assert abs(np.subtract(ink_box(got), ink_box(expected))).max() <= 1
    assert np.abs(got - expected).mean() < 10


@pytest.mark.parametrize("top, left, size", [(0.05, 0.05, 3), (0.9, 0.45, 10), (0.5, 0.93, 6)])
def test_a_speck_away_from_the_digit_is_left_out(top, left, size):
    """Dust or a dot of the pen widened the crop (photos.py: 77.5% right with a 3-pixel speck
    near a corner of a 300-pixel photo)."""
    clean = np.pad(np.asarray(drawn_seven(), np.float32) / 255, 60, constant_values=1)
    photo = clean.copy()
    y, x = int(top * photo.shape[0]), int(left * photo.shape[1])
    photo[y:y + size, x:x + size] = 0.1
    np.testing.assert_array_equal(to_mnist(photo), to_mnist(clean))


def test_a_digit_in_separate_pieces_keeps_them_all():
    """A '5' written in two strokes: its flag is a piece of its own, with a third of the ink."""
    img = Image.new("L", (200, 260), 255)
    draw = ImageDraw.Draw(img)
    draw.line([(70, 60), (140, 60)], fill=0, width=12)  # the flag, apart from the rest
    draw.line([(64, 80), (60, 130)], fill=0, width=12)
    draw.arc([50, 110, 150, 210], start=-120, end=140, fill=0, width=12)
    five = np.asarray(img, np.float32) / 255
    got = to_mnist(five).reshape(28, 28)
    top = np.flatnonzero(got.max(axis=1) > 30)[0]
    assert np.count_nonzero(got[top:top + 2].max(axis=0) > 30) >= 7  # the flag, 8 px wide


def box_on_the_whole_preview(ink, preview, columns):
    """``digit_box`` as written before it labelled the ink's box alone: every piece found on
    the whole preview (columns outside ``columns`` blank)."""
    whole = (slice(None), slice(None))
    if columns is not None:
        inside = np.zeros(preview.shape[1], bool)
        inside[columns] = True
        preview = np.where(inside, preview, 0)
        whole = in_photo((slice(0, preview.shape[0]), columns), preview.shape, ink.shape)
    inked = preview > 0.1 * preview.max()
    reach = max(1, round(0.02 * min(preview.shape)))
    pieces, count = label(binary_dilation(inked, iterations=reach), structure=np.ones((3, 3)))
    pieces[~inked] = 0
    if count <= 1:
        return whole
    masses = sum_labels(preview, pieces, np.arange(1, count + 1))
    boxes = find_objects(pieces)
    main = boxes[int(np.argmax(masses))]
    kept = [box for box, mass in zip(boxes, masses) if mass >= 0.1 * masses.max()
            or all(b.start < m.stop and m.start < b.stop for b, m in zip(box, main))]
    return in_photo(tuple(slice(min(box[axis].start for box in kept),
                                max(box[axis].stop for box in kept)) for axis in range(2)),
                    preview.shape, ink.shape)


@pytest.mark.parametrize("seed", range(6))
def test_digit_box_labels_within_the_inks_box_as_on_the_whole_preview(seed):
    """Dashes drawn at random, as a pen's broken line, some cut by the photo's edges: the box
    found by labelling within the ink's box is the one found on the whole preview, for the
    whole photo and for columns anywhere in it."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (1400, 600), 0)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.integers(-20, 1400), rng.integers(-20, 600)
        dx, dy = rng.integers(-60, 60, size=2)
        draw.line([(x, y), (x + dx, y + dy)], fill=int(rng.integers(80, 256)),
                  width=int(rng.integers(3, 12)))
    ink = np.asarray(img, np.float32) / 255
    preview = shrunk(ink, PREVIEW_SIDE)
    width = preview.shape[1]
    spans = [None, slice(0, width), slice(0, 90), slice(width - 120, width),
             *(slice(start, start + int(rng.integers(40, 400)))
               for start in rng.integers(0, width - 40, size=12))]
    for columns in spans:
        assert digit_box(ink, preview, columns) == box_on_the_whole_preview(
            ink, preview, columns), columns


#: Strokes of a one, a seven and a zero in a box 100 wide and 160 tall (ImageDraw's line, and
#: the zero's ellipse).
DRAWN = {1: [(55, 0), (45, 160)], 7: [(0, 5), (100, 5), (40, 160)], 0: None}


def drawn_number(digits, gap=40, paper=(80, 80)):
    """Digits from DRAWN side by side, ``gap`` pixels apart, dark on white, ``paper`` pixels of
    margin (rows, columns)."""
    img = Image.new("L", (2 * paper[1] + len(digits) * 100 + (len(digits) - 1) * gap,
                          2 * paper[0] + 160), 255)
    draw = ImageDraw.Draw(img)
    for k, digit in enumerate(digits):
        left, top = paper[1] + k * (100 + gap), paper[0]
        if DRAWN[digit] is None:
            draw.ellipse([left + 10, top, left + 90, top + 160], outline=0, width=16)
        else:
            draw.line([(left + x, top + y) for x, y in DRAWN[digit]], fill=0, width=16,
                      joint="curve")
    return np.asarray(img, np.float32) / 255


def assert_each_as_if_alone(got, digits):
    """Each MNIST image of ``got`` is, within a pixel and a little shading, the digit of
    ``digits`` drawn alone."""
    for field, digit in zip(got, digits):
        alone = to_mnist(drawn_number([digit])).astype(int)
        assert abs(np.subtract(ink_box(field.reshape(28, 28)),
                               ink_box(alone.reshape(28, 28)))).max() <= 1
        assert np.abs(field - alone).mean() < 8, digit


@pytest.mark.parametrize("digits, gap", [((1, 7), 40), ((7, 0, 1), 25), ((0, 7, 0, 1), 60)])
def test_a_number_reads_as_its_digits_each_as_if_alone(digits, gap):
    got = to_mnist_digits(drawn_number(digits, gap)).astype(int)
    assert got.shape == (len(digits), 784)
    assert_each_as_if_alone(got, digits)


def test_a_stroke_apart_in_a_number_goes_with_the_digit_beside_it():
    """A dash too short to be a digit, 25 pixels right of a number's seven (a seven's bar,
    the left of a 4 written in two strokes), is read with the seven, as it is alone."""
    number = drawn_number((1, 7), gap=60)
    number[150:166, 365:405] = 0
    seven = number.copy()
    seven[:, :220] = 1  # the one, erased
    got = to_mnist_digits(number).astype(int)
    assert got.shape == (2, 784)
    expected = to_mnist(seven).astype(int)
    assert abs(np.subtract(ink_box(got[1].reshape(28, 28)),
                           ink_box(expected.reshape(28, 28)))).max() <= 1
    assert np.abs(got[1] - expected).mean() < 8
    assert ink_box(got[1].reshape(28, 28))[3] - ink_box(got[1].reshape(28, 28))[2] >= 17


def test_one_digit_reads_as_to_mnist_makes_it():
    for image in (drawn_number([7]), np.asarray(drawn_seven(), np.float32) / 255,
                  np.asarray(drawn_one(), np.float32) / 255):
        np.testing.assert_array_equal(to_mnist_digits(image), to_mnist(image)[None, :])


@pytest.mark.parametrize("extra", ["speck beside", "margin line", "second line of writing",
                                   "close strokes"])
def test_ink_that_is_not_a_second_digit_leaves_one_digit(extra):
    """Digits must be level with the one with most ink and 0.7-1.43 times as tall, with
    columns free of ink between them, a tenth of the ink's height wide or more."""
    image = drawn_number([7], paper=(80, 200))
    if extra == "speck beside":  # a blot with half the seven's ink, a third of its height
        image[180:230, 380:430] = 0
    elif extra == "margin line":  # 1.5 times as tall as the seven
        image[40:280, 60:66] = 0
    elif extra == "second line of writing":  # a one below the seven, beside it
        image = np.vstack([image, drawn_number([1], paper=(80, 200))])
        image = np.hstack([image, np.ones_like(image)])
        image[320:, 250:] = image[320:, :-250].copy()
        image[320:, :250] = 1
    else:  # a stroke 6% of the ink's height from the seven's (at 30 pixels: two digits)
        image[90:230, 310:320] = 0
    got = to_mnist_digits(image)
    assert got.shape == (1, 784)
    np.testing.assert_array_equal(got[0], to_mnist(image))


def reader(digit=0.9, whole=0.3):
    """A stand-in for the model's reading, by shape alone: an image whose ink is at most 0.7
    times as wide as tall (one of drawn_number's digits) reads ``digit``, a wider one (digits
    squeezed into one box) ``whole``. Counts the images it reads."""
    def read(fields):
        read.seen += len(fields)
        boxes = [ink_box(f.reshape(28, 28)) for f in fields]
        narrow = [right - left + 1 <= 0.7 * (bottom - top + 1)
                  for top, bottom, left, right in boxes]
        p = np.where(narrow, digit, whole)
        return np.column_stack([p, *[(1 - p) / 9] * 9])
    read.seen = 0
    return read


@pytest.mark.parametrize("digits, gap", [((0, 0), -12), ((1, 7), -30), ((0, 0, 0), -12)])
def test_digits_written_close_part_where_the_pieces_read_better(digits, gap):
    """Ink 6-7 pixels apart, ~4% of the digits' height, under digit_columns's 10%: one digit
    without the model's reading, and with it each digit as if alone."""
    image = drawn_number(digits, gap)
    assert to_mnist_digits(image).shape == (1, 784)
    got = to_mnist_digits(image, read=reader()).astype(int)
    assert got.shape == (len(digits), 784)
    assert_each_as_if_alone(got, digits)


@pytest.mark.parametrize("read, why", [
    (reader(digit=0.5, whole=0.9), "the whole reads better"),
    (reader(digit=0.55, whole=0.1), "a piece reads under CLOSE_DIGIT_PROBABILITY"),
])
def test_close_pieces_stay_one_digit_unless_each_reads_as_a_digit_better(read, why):
    image = drawn_number((0, 0), -12)
    got = to_mnist_digits(image, read=read)
    np.testing.assert_array_equal(got, to_mnist(image)[None, :], err_msg=why)


def test_close_digits_a_wide_gap_apart_part_however_low_each_reads():
    """Ink ~11 pixels apart, ~7% of the digits' height (over CLOSE_WIDE_GAP, under
    digit_columns's 10%): pieces that read under CLOSE_DIGIT_PROBABILITY part the number if
    their mean beats the whole's, and not if it does not."""
    image = drawn_number((0, 0), -8)
    got = to_mnist_digits(image, read=reader(digit=0.4, whole=0.1)).astype(int)
    assert got.shape == (2, 784)
    assert_each_as_if_alone(got, (0, 0))
    np.testing.assert_array_equal(to_mnist_digits(image, read=reader(digit=0.4, whole=0.5)),
                                  to_mnist(image)[None, :])


def test_close_digits_with_many_gaps_part_at_the_wide_ones():
    """Two zeros ~7% of their height apart, each broken by four narrow gaps (~3%): with more
    gaps than CLOSE_MAX_PIECES allows, the number is parted at its wide gaps alone."""
    image = drawn_number((0, 0), -8)
    for left in (80, 180):
        for k in range(4):
            image[:, left + 22 + 12 * k:left + 27 + 12 * k] = 1
    got = to_mnist_digits(image, read=reader()).astype(int)
    assert got.shape == (2, 784)
    for field in got:  # each a broken zero: as tall as the number, half as wide
        top, bottom, left, right = ink_box(field.reshape(28, 28))
        assert bottom - top + 1 == 20 and 8 <= right - left + 1 <= 12


def test_close_digits_need_pieces_as_tall_as_digits():
    """A piece under 0.7 times the ink's height (a 7's bar apart) is no digit, however the
    pieces read; a number without any close gap or thin column is not read by the model more
    than digit_columns's parts need."""
    read = reader()
    low = drawn_number([7], paper=(80, 200))
    low[90:110, 150:190] = 0  # a bar 10 px left of the seven's own, 20 rows tall
    np.testing.assert_array_equal(to_mnist_digits(low, read=read), to_mnist(low)[None, :])
    assert read.seen == 0
    apart = drawn_number((1, 7), 40)
    reference = to_mnist_digits(apart)
    np.testing.assert_array_equal(to_mnist_digits(apart, read=read), reference)
    assert read.seen == 0


def test_a_faint_stroke_beside_a_digit_is_no_digit_however_it_reads(monkeypatch):
    """A hairline as tall as the seven, 30 pixels right of it, holds 3.6% of the ink, under
    CLOSE_DIGIT_INK: however surely the model would read it (a 1, 0.95, surer than the seven
    at 0.9), it is not parted off as a digit of its own; with no least share of the ink, it
    would be."""
    image = drawn_number([7], paper=(80, 200))
    seven_right = np.flatnonzero((image < 0.5).any(axis=0))[-1]
    image[80:240, seven_right + 31] = 0

    def read(fields):
        boxes = [ink_box(f.reshape(28, 28)) for f in fields]
        p = np.array([0.95 if right - left + 1 <= 0.2 * (bottom - top + 1) else 0.9
                      for top, bottom, left, right in boxes])
        return np.column_stack([p, *[(1 - p) / 9] * 9])

    np.testing.assert_array_equal(to_mnist_digits(image, read=read), to_mnist(image)[None, :])
    monkeypatch.setattr("mnist_mlp.digits.CLOSE_DIGIT_INK", 0.0)
    assert to_mnist_digits(image, read=read).shape == (2, 784)


@pytest.mark.parametrize("digits, gap", [((7, 0), 0), ((0, 0), -18), ((0, 0, 0), -18)])
def test_digits_closer_than_close_gap_part_at_thin_columns(digits, gap):
    """Ink 1-2 pixels apart (~1% of the height, under CLOSE_GAP): parted at the thin column
    between the digits where the pieces read better than the whole by THIN_CUT_MARGIN, each
    as if alone; by less (0.9 against 0.87: 0.03 in log probability), one digit."""
    image = drawn_number(digits, gap)
    got = to_mnist_digits(image, read=reader(digit=0.9, whole=0.8)).astype(int)
    assert got.shape == (len(digits), 784)
    assert_each_as_if_alone(got, digits)
    np.testing.assert_array_equal(to_mnist_digits(image, read=reader(digit=0.9, whole=0.87)),
                                  to_mnist(image)[None, :])


def test_touching_digits_part_at_the_thin_column_where_they_meet():
    """Two zeros whose outlines touch, no column free of ink between them: two digits, each
    with the box of a zero drawn alone within a pixel."""
    got = to_mnist_digits(drawn_number((0, 0), -20), read=reader()).astype(int)
    assert got.shape == (2, 784)
    alone = ink_box(to_mnist(drawn_number([0])).astype(int).reshape(28, 28))
    for field in got:
        assert abs(np.subtract(ink_box(field.reshape(28, 28)), alone)).max() <= 1


def test_thin_columns_of_a_digit_near_its_ends_are_no_cut():
    """A thin column is only cut THIN_CUT_END of the height or more from the ink's ends: a
    seven's bar, thin columns all, is no place to part it, however the pieces would read."""
    seven = drawn_number([7]) < 0.5
    rows = np.flatnonzero(seven.any(axis=1))
    columns = np.flatnonzero(seven.any(axis=0))
    inked = seven[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    for start, stop in thin_cuts(inked, [], 7):
        assert 0.15 * len(inked) <= start and stop <= inked.shape[1] - 0.15 * len(inked)
    read = reader(digit=0.99, whole=0.1)
    image = drawn_number([7])
    np.testing.assert_array_equal(to_mnist_digits(image, read=read), to_mnist(image)[None, :])


def test_predict_files_parts_close_digits_with_the_models_reading(finished, tmp_path,
                                                                  monkeypatch):
    """predict_files hands to_mnist_digits the model's own reading: the probabilities of the
    model file for the normalized images."""
    Image.fromarray((drawn_number((0, 0), -12) * 255).astype(np.uint8)).save(tmp_path / "n.png")
    model_path = finished / "m/model.npz"
    seen = {}
    real = predict.to_mnist_digits

    def spy(gray, source="image", read=None):
        seen["read"] = read
        return real(gray, source, read)

    monkeypatch.setattr(predict, "to_mnist_digits", spy)
    predictions, failures = predict.predict_files([str(tmp_path / "n.png")], model_path)
    assert not failures and seen["read"] is not None
    model, info = predict.load_model(model_path)
    fields = to_mnist_digits(drawn_number((1, 7), 40))
    np.testing.assert_array_equal(
        seen["read"](fields),
        model.predict_proba(predict.Normalization(**info["normalization"]).apply(fields)))


def with_info(model_path, path, info):
    """A copy of the model file at ``model_path`` whose meta entry has ``info``, at ``path``."""
    with np.load(model_path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    meta["info"] = info
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def test_the_models_reading_normalizes_as_its_training_data_was(finished, tmp_path):
    """A model trained on standardized pixels reads images standardized the same way (the
    finished model's own normalization is plain scaling, which the default would match)."""
    model, info = predict.load_model(finished / "m/model.npz")
    standardized = {"mean": 0.13, "std": 0.31}
    with_info(finished / "m/model.npz", tmp_path / "model.npz",
              {**info, "normalization": standardized})
    fields = to_mnist_digits(drawn_number((1, 7), 40))
    expected = model.predict_proba(predict.Normalization(**standardized).apply(fields))
    np.testing.assert_array_equal(predict.model_reading(tmp_path / "model.npz")(fields), expected)
    scaled = predict.Normalization().apply(fields)
    assert not np.array_equal(expected, model.predict_proba(scaled))


def test_a_model_without_a_normalization_reads_pixels_scaled_to_the_unit_range(finished,
                                                                              tmp_path):
    """A model file written without the normalization in its info (``model_arrays(model)``
    from a script) reads pixels as the prepare stage's default, ``scale``, gives them."""
    model, info = predict.load_model(finished / "m/model.npz")
    with_info(finished / "m/model.npz", tmp_path / "model.npz",
              {k: v for k, v in info.items() if k != "normalization"})
    fields = to_mnist_digits(drawn_number((1, 7), 40))
    np.testing.assert_array_equal(predict.model_reading(tmp_path / "model.npz")(fields),
                                  model.predict_proba(predict.Normalization().apply(fields)))


def test_a_predictions_line_gives_the_three_likeliest_digits_and_the_label():
    """The text ``predict`` prints per input; of equal probabilities the smaller digit
    ranks first."""
    probabilities = np.zeros(10, np.float32)
    probabilities[[3, 5, 8]] = [0.25, 0.5, 0.25]
    lines = [str(predict.Prediction("a.png:row2", 5, probabilities, label))
             for label in (None, 5, 3)]
    assert lines == ["a.png:row2: 5 (5 50.0%, 3 25.0%, 8 25.0%)",
                     "a.png:row2: 5 (5 50.0%, 3 25.0%, 8 25.0%), label 5",
                     "a.png:row2: 5 (5 50.0%, 3 25.0%, 8 25.0%), label 3 (wrong)"]
    ties = predict.Prediction("t", 0, np.full(10, 0.1, np.float32))
    assert [digit for digit, _ in ties.top(10)] == list(range(10))


@pytest.mark.parametrize("mask, runs", [
    ([], []), ([0, 0], []), ([1], [(0, 1)]), ([1, 1, 0, 1], [(0, 2), (3, 4)]),
    ([0, 1, 1, 0, 0, 1, 1, 1], [(1, 3), (5, 8)])])
def test_true_runs_are_the_start_and_stop_of_each_run(mask, runs):
    assert true_runs(np.array(mask, bool)) == runs


def test_disk_footprints_are_round_and_2_radius_plus_1_across():
    assert disk(0).tolist() == [[True]]
    assert disk(2).astype(int).tolist() == [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1],
                                            [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]
    footprint = disk(5)
    assert footprint.shape == (11, 11) and footprint.sum() == 81  # lattice points in r = 5
    np.testing.assert_array_equal(footprint, footprint.T)


@pytest.mark.parametrize("shape, margin", [((100, 60), 3), ((30, 400), 1), ((10, 10), 1)])
def test_the_edge_frame_is_the_outer_twentieth_of_the_shorter_side(shape, margin):
    frame = edge_frame(shape)
    expected = np.ones(shape, bool)
    expected[margin:-margin, margin:-margin] = False
    np.testing.assert_array_equal(frame, expected)


def test_shrunk_averages_blocks_down_to_the_side_on_the_shorter_side():
    gray = np.random.default_rng(0).random((256, 384)).astype(np.float32)
    np.testing.assert_allclose(shrunk(gray), gray.reshape(128, 2, 192, 2).mean(axis=(1, 3)),
                               rtol=1e-6)
    assert shrunk(gray, 50).shape == (50, 75) and shrunk(gray.T, 50).shape == (75, 50)
    assert shrunk(np.zeros((500, 300), np.float32)).shape == (213, 128)  # 500 * 128 / 300
    for small in (np.zeros((128, 200), np.float32), np.zeros((100, 400), np.float32)):
        assert shrunk(small) is small


def test_stroke_width_of_bars_and_rings():
    for width in (1, 3, 8):
        bar = np.zeros((120, 120), np.float32)
        bar[20:100, 60 - width // 2:60 - width // 2 + width] = 1
        assert stroke_width(bar) == pytest.approx(width, rel=0.15)
    y, x = np.mgrid[0:200, 0:200] - 99.5
    ring = ((x * x + y * y < 80 ** 2) & (x * x + y * y >= 74 ** 2)).astype(np.float32)
    assert stroke_width(ring) == pytest.approx(6, rel=0.35)  # row/column steps overcount


def seven_of_line(width):
    """A 7 drawn with a line ``width`` pixels wide, 600 pixels tall, dark on white."""
    img = Image.new("L", (480, 600), 255)
    ImageDraw.Draw(img).line([(120, 120), (360, 120), (210, 510)], fill=0, width=width)
    return np.asarray(img, np.float32) / 255


@pytest.mark.parametrize("line", [6, 2])
def test_a_pen_drawn_digit_gets_mnist_strokes(line):
    """A pen's line is ~1% of the digit's height: shrunk to the 20-pixel box it was a faint
    trace (photos.py: 22.0-86.5% right for strokes of 0.5-2.2%). Widened, its 28x28 field has
    strokes and ink as a marker's (10% of the height) within 15%; widened to MNIST's median
    before the shrink, 0.69 and 0.73 of them. A line of 0.33% (2 pixels) covers part of each
    pixel of the copy it is widened on, by how it falls on them: widened in those shades, its
    field had 0.67 of the marker's ink."""
    marker = to_mnist(seven_of_line(60)).astype(int).reshape(28, 28)  # 10% of the height
    pen = to_mnist(seven_of_line(line)).astype(int).reshape(28, 28)
    assert pen.max() == 255 and np.abs(np.array(ink_box(pen)) - ink_box(marker)).max() <= 1
    assert stroke_width(pen.astype(np.float32)) == pytest.approx(
        stroke_width(marker.astype(np.float32)), rel=0.15)
    assert pen.sum() == pytest.approx(marker.sum(), rel=0.15)


def test_a_markers_bold_strokes_are_thinned(monkeypatch):
    """A marker's strokes 0.20 of the digit's height (MNIST's 99th percentile is 0.18) filled
    its loops in the 20-pixel box: photos.py's tightly cropped bold digits read 95.5% right.
    Thinned (on an 80-pixel copy of the digit's box), they lose a tenth of their width or
    more, and the 28x28 field a fifth of its ink or more; strokes of 0.11 (10% of the image)
    stay as they are."""
    def box_of_ink(width):
        ink = 1 - seven_of_line(width)
        top, bottom, left, right = ink_box(ink * 255)
        return ink[top:bottom + 1, left:right + 1]

    usual, bold = box_of_ink(60), box_of_ink(150)
    assert with_mnist_strokes(usual) is usual
    thinned = with_mnist_strokes(bold)
    assert thinned.shape == (80, round(80 * bold.shape[1] / bold.shape[0]))
    bold_share, thinned_share = (stroke_width(ink) / ink.shape[0] for ink in (bold, thinned))
    assert THINNED_STROKE < thinned_share < 0.9 * bold_share
    field = to_mnist(seven_of_line(150)).astype(int)
    monkeypatch.setattr("mnist_mlp.digits.BOLD_STROKE", np.inf)
    assert field.sum() < 0.8 * to_mnist(seven_of_line(150)).astype(int).sum()


def test_a_short_dash_that_measures_bold_is_read_not_eroded_away():
    """A 2-pixel line, slightly slanted, in a 28-pixel image is 3-4 pixels tall: its strokes
    measure bold against that height, and eroded it left no ink (a NaN centre of mass, and a
    traceback from predict)."""
    img = Image.new("L", (28, 28), 255)
    ImageDraw.Draw(img).line([(6, 14), (20, 17)], fill=0, width=2)
    field = to_mnist(np.asarray(img, np.float32) / 255)
    assert field.max() == 255


def test_a_numbers_whole_width_does_not_make_its_strokes_thin():
    """Before it is parted, a number is read whole; measured against its width (three digits
    side by side), its strokes counted as thin and were widened and darkened, and the whole
    read as one digit with more confidence than its digits (photos.py, three digits whose
    boxes touch under a shadow with noise: 87.0% -> 86.0% right when thin strokes were first
    darkened). Measured against the height, only a thin pen's line is widened."""
    number = np.zeros((60, 180), np.float32)
    for left in (10, 70, 130):
        number[5:55, left:left + 6] = 1  # three bars 10% of the height wide
    assert with_mnist_strokes(number) is number
    pen = np.zeros((60, 180), np.float32)
    pen[5:55, 10:11] = pen[5:55, 90:91] = 1
    assert with_mnist_strokes(pen) is not pen


def test_a_bold_light_zero_is_not_a_sheet():
    """A bold '0' on black fills, holes and all, a third of its image and is mostly light: 15
    of MNIST's 10,000 test digits were taken for sheets under a 30% area rule."""
    image = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(image).ellipse([6, 3, 21, 24], outline=255, width=5)
    zero = np.asarray(image, np.float32) / 255
    assert sheet_of_paper(zero, zero, 0.0) is None
    assert 0.3 < binary_fill_holes(zero > 0.5).mean() < 0.4


def test_a_bold_light_one_is_not_a_sheet_but_a_strip_of_paper_is():
    """A bold upright '1' on black is a bar of light with grey along it, as a sheet with ink
    is: enlarged to 84-280 pixels, 2 to 5 of MNIST's test digits, all such 1s, were taken for
    sheets and read as "no digit found" or wrong. A bar over 3 times as long as wide whose ink
    runs along most of it is a stroke; a strip of paper as long, with a digit on it, a sheet."""
    one = np.zeros((112, 112), np.float32)
    one[20:92, 50:64] = 1.0
    one[24:88, 58] = 0.55
    assert sheet_of_paper(one, one, 0.0) is None
    assert ink_box(to_mnist(one).reshape(28, 28)) == (4, 23, 13, 16)  # 20 rows, as MNIST's 1s
    strip = np.full((300, 400), 0.25, np.float32)
    strip[110:190, 40:360] = 1.0  # 4 times as long as wide
    strip[115:185, 180:220] = np.asarray(drawn_seven().resize((40, 70)), np.float32) / 255
    assert sheet_of_paper(strip, strip, 0.25) is not None
    expected = np.pad(strip[110:190, 40:360], 20, constant_values=1.0)  # on white paper
    assert np.abs(to_mnist(strip).astype(int) - to_mnist(expected).astype(int)).mean() < 8
    corners = np.array([(0, 0), (14, 0), (14, 72), (0, 72)], np.float64)
    assert aspect_ratio(corners) == aspect_ratio(corners[:, ::-1]) == 72 / 14
    # A sheet seen at an angle: its far edge half as wide as its near one, as tall as wide.
    assert aspect_ratio(np.array([(25, 0), (75, 0), (100, 100), (0, 100)], np.float64)) == \
        pytest.approx((2 * np.hypot(25, 100)) / 150)


@pytest.mark.parametrize("paper", [0.9, 1.0])  # grey paper, and white paper clipped at white
def test_noisy_blank_paper_holds_no_digit(paper):
    """Before the paper's level and the noise floor, such a photo gave a 'digit' made of its
    shadow or its noisiest pixels."""
    noise = np.random.default_rng(1).normal(0, 0.04, (400, 300))
    photo = np.clip(paper + noise - 0.3 * np.linspace(0, 1, 300), 0, 1).astype(np.float32)
    with pytest.raises(ImageError, match="no digit found"):
        to_mnist(photo, "blank.jpg")


def test_polarity_does_not_matter():
    dark = to_mnist(np.asarray(drawn_one(ink=0, paper=255), np.float32) / 255)
    light = to_mnist(np.asarray(drawn_one(ink=255, paper=0), np.float32) / 255)
    np.testing.assert_array_equal(dark, light)


def test_transparent_png_and_rgb(tmp_path):
    rgba = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse([15, 10, 45, 50], outline=(0, 0, 0, 255), width=6)
    rgba.save(tmp_path / "zero.png")
    gray = load_image(tmp_path / "zero.png")
    assert gray[0, 0] == 1.0  # transparent background reads as white paper
    drawn_one().convert("RGB").save(tmp_path / "one.jpg", quality=95)
    assert to_mnist(load_image(tmp_path / "one.jpg")).max() > 200


@pytest.mark.parametrize("mode", ["LA", "P"])
def test_transparency_of_gray_and_palette_images_is_white_paper(tmp_path, mode):
    """Black ink on black paper that is transparent, as gray with alpha (LA) or as a palette
    with a transparent entry (P, a PNG's tRNS): a black drawing on white, as from RGBA."""
    ink = np.asarray(drawn_one(ink=0, paper=255)) == 0
    black = Image.new("L", (ink.shape[1], ink.shape[0]), 0)
    if mode == "LA":
        image = Image.merge("LA", [black, Image.fromarray(ink.astype(np.uint8) * 255)])
    else:
        image = Image.fromarray(ink.astype(np.uint8), "P")
        image.putpalette([0, 0, 0] * 2)
    image.save(tmp_path / "one.png", **({"transparency": 0} if mode == "P" else {}))
    with Image.open(tmp_path / "one.png") as img:
        assert img.mode == mode
    np.testing.assert_array_equal(load_image(tmp_path / "one.png"), np.where(ink, 0.0, 1.0))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_light_strokes_on_a_transparent_canvas_read_on_dark_paper(tmp_path, mode):
    """White strokes on a transparent canvas, as a web page's drawing canvas exports them (a
    canvas styled dark, with its strokes white as MNIST's), read as "no digit found": white
    on white paper. Where the opaque pixels are a minority, they are the ink, and the paper
    takes the shade that sets them off; antialiased edges blend with it."""
    ink = Image.new("L", (90, 140), 0)
    ImageDraw.Draw(ink).line([(50, 20), (40, 120)], fill=255, width=12)
    ink = ink.resize((45, 70), Image.Resampling.BILINEAR)  # partly transparent edges
    alpha = np.asarray(ink, np.float32) / 255
    for shade, name in ((255, "white"), (0, "black")):
        Image.merge(mode, [Image.new("L", ink.size, shade)] * (len(mode) - 1) + [ink]).save(
            tmp_path / f"{name}.png")
    np.testing.assert_allclose(load_image(tmp_path / "white.png"), alpha, atol=1 / 255)
    np.testing.assert_allclose(load_image(tmp_path / "black.png"), 1 - alpha, atol=1 / 255)
    assert to_mnist(load_image(tmp_path / "white.png")).max() > 200


@pytest.mark.parametrize("colour, paper", [((0, 0, 255), 1.0), ((110, 110, 110), 1.0),
                                           ((255, 255, 0), 0.0), ((190, 190, 190), 0.0)])
def test_coloured_strokes_on_a_transparent_canvas_read_on_the_paper_that_sets_them_off(
        tmp_path, colour, paper):
    """A blue or dark gray pen's strokes on white paper; a yellow or light gray one's on black."""
    canvas = Image.new("RGBA", (90, 140), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).line([(50, 20), (40, 120)], fill=(*colour, 255), width=12)
    canvas.save(tmp_path / "one.png")
    gray = load_image(tmp_path / "one.png")
    assert gray[0, 0] == paper
    assert to_mnist(gray).max() > 200


def test_an_opaque_page_with_transparent_margins_keeps_white_margins(tmp_path):
    """Light opaque pixels that are most of the image are paper, not ink: the margins around
    it read as white paper, as before."""
    page = drawn_one(size=(90, 140)).convert("RGBA")
    canvas = Image.new("RGBA", (110, 160), (0, 0, 0, 0))
    canvas.paste(page, (10, 10))
    canvas.save(tmp_path / "page.png")
    gray = load_image(tmp_path / "page.png")
    assert gray[0, 0] == 1 and gray[:10].min() == 1
    assert to_mnist(gray).max() > 200


@pytest.mark.parametrize("suffix, dtype, mode, scale", [("png", np.uint16, "I;16", 257),
                                                        ("tif", np.uint16, "I;16", 257),
                                                        ("png", np.uint16, "I;16", 1),
                                                        ("tif", np.int32, "I", 257),
                                                        ("tif", np.int32, "I", 1)])
def test_wide_integer_grayscale_reads_as_its_eight_bit_drawing(tmp_path, suffix, dtype, mode,
                                                               scale):
    """Pillow's own conversion clips 16-bit values at 255: the whole scan would be white. An
    8-bit drawing stored in 16 bits unscaled (scale 1) read as a black page of 0..65535 and
    held no digit, and as its drawing when Pillow opened the same PNG as "I"."""
    eight_bit = drawn_one(ink=30, paper=200)  # both above 255 once scaled to 16 bits
    sixteen_bit = Image.fromarray(np.asarray(eight_bit).astype(dtype) * scale)
    sixteen_bit.save(tmp_path / f"one16.{suffix}")
    with Image.open(tmp_path / f"one16.{suffix}") as img:
        assert img.mode == mode
    eight_bit.save(tmp_path / "one8.png")
    gray = load_image(tmp_path / f"one16.{suffix}")
    np.testing.assert_array_equal(gray, load_image(tmp_path / "one8.png"))
    assert to_mnist(gray).max() > 200


def test_sixteen_bit_transparency_is_white_paper_as_in_eight_bits(tmp_path):
    """The paper's stored gray (4) is darker than paper: only its tRNS entry makes it paper."""
    eight_bit = drawn_one(ink=0, paper=4)
    eight_bit.save(tmp_path / "one8.png", transparency=4)
    Image.fromarray(np.asarray(eight_bit).astype(np.uint16) * 257).save(
        tmp_path / "one16.png", transparency=4 * 257)
    gray = load_image(tmp_path / "one16.png")
    np.testing.assert_array_equal(gray, load_image(tmp_path / "one8.png"))
    assert gray[0, 0] == 1 and to_mnist(gray).max() > 200


@pytest.mark.parametrize("scale", [1 / 255, 1])
def test_float_images_in_either_range_read_as_their_eight_bit_drawing(tmp_path, scale):
    eight_bit = drawn_one(ink=30, paper=200)
    Image.fromarray(np.asarray(eight_bit, np.float32) * scale).save(tmp_path / "one.tif")
    expected = np.asarray(eight_bit, np.float32) / 255
    np.testing.assert_allclose(load_image(tmp_path / "one.tif"), expected, rtol=1e-6)


def test_float_image_with_nan_is_refused(tmp_path):
    values = np.zeros((30, 30), np.float32)
    values[5:25, 10:14] = np.nan
    Image.fromarray(values).save(tmp_path / "nan.tif")
    with pytest.raises(ImageError, match=r"nan.tif: not a readable image \(NaN or infinite "
                                         r"pixel values\)"):
        load_image(tmp_path / "nan.tif")


@pytest.mark.parametrize("mode, white", [("F", 1.0), ("I", 255), ("I;16", 255)])
def test_a_wide_image_white_at_the_smaller_ranges_top_is_read_in_it(tmp_path, mode, white):
    """White paper at exactly 1.0 (float) or 255 (16- or 32-bit integer) is white, not a
    near-black page of the larger range (0..255, 0..65535)."""
    eight_bit = np.asarray(drawn_one(ink=30, paper=255))
    dtype = {"F": np.float32, "I": np.int32, "I;16": np.uint16}[mode]
    Image.fromarray((eight_bit * (white / 255)).astype(dtype)).save(tmp_path / "one.tif")
    with Image.open(tmp_path / "one.tif") as img:
        assert img.mode == mode
    np.testing.assert_allclose(load_image(tmp_path / "one.tif"), eight_bit / 255, rtol=1e-6)


@pytest.mark.parametrize("side", [40, 50])  # Pillow's warning (> 1000 here), its refusal (> 2000)
def test_images_past_pillows_bomb_limits_are_refused(tmp_path, monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    drawn_one(size=(side, side)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match=f"big.png: too large an image .*{side * side} pixels"):
        load_image(tmp_path / "big.png")


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_a_photo_is_turned_upright_by_its_exif_orientation(tmp_path, mode):
    upright = drawn_one()
    if mode == "I;16":
        upright = Image.fromarray(np.asarray(upright).astype(np.uint16) * 257)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees anticlockwise: turn clockwise to display
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.png", exif=exif)
    upright.save(tmp_path / "upright.png")
    np.testing.assert_array_equal(load_image(tmp_path / "turned.png"),
                                  load_image(tmp_path / "upright.png"))


def test_a_large_jpeg_is_decoded_reduced_and_reads_as_at_full_size(tmp_path, monkeypatch):
    """A phone's photo is 12-48 megapixels: a JPEG twice ``DECODE_SIDE`` or more is decoded at
    half size or less (Pillow's draft mode), and its digit's field is the full decode's."""
    photo = tmp_path / "seven.jpg"
    drawn_seven().resize((4800, 6000), Image.Resampling.BILINEAR).save(photo, quality=90)
    reduced = load_image(photo)
    assert reduced.shape == (3000, 2400)  # half: a quarter would be below 3000 on the long side
    monkeypatch.setattr("mnist_mlp.images.DECODE_SIDE", 10_000)
    full = load_image(photo)
    assert full.shape == (6000, 4800)
    got, expected = (to_mnist(gray).astype(int).reshape(28, 28) for gray in (reduced, full))
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 2


@pytest.mark.parametrize("fmt", ["MPO", "PNG", "16-bit PNG"])
def test_large_images_read_reduced_jpegs_in_the_decoder_others_after(tmp_path, monkeypatch, fmt):
    """MPO, the multi-picture JPEG some cameras save, is a JPEG to Pillow's draft mode; a PNG
    (or HEIC, ...) is decoded whole and then reduced, in 8 or 16 bits, and reads as the full
    image does."""
    path = tmp_path / f"seven.{fmt.split()[-1].lower()}"
    seven = drawn_seven().resize((4800, 6000), Image.Resampling.BILINEAR)
    if fmt == "16-bit PNG":
        seven = Image.fromarray(np.asarray(seven).astype(np.uint16) * 257)
    seven.save(path, format=fmt.split()[-1], **({"save_all": True, "append_images": [seven]}
                                                if fmt == "MPO" else {}))
    gray = load_image(path)
    assert gray.shape == (3000, 2400) and gray.dtype == np.float32 and gray.flags.writeable
    # Only the JPEG decoder reduces now.
    monkeypatch.setattr("mnist_mlp.images.reduced", lambda img: img)
    assert load_image(path).shape == ((3000, 2400) if fmt == "MPO" else (6000, 4800))
    monkeypatch.setattr("mnist_mlp.images.DECODE_SIDE", 10_000)
    got, expected = (to_mnist(image).astype(int).reshape(28, 28)
                     for image in (gray, load_image(path)))
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 2


@pytest.mark.parametrize("side, factor", [(100, 1), (5998, 1), (5999, 2), (6000, 2),
                                          (11_996, 2), (11_997, 4), (23_992, 4), (23_993, 8),
                                          (100_000, 8)])
def test_the_reduction_keeps_the_longer_side_at_decode_side_or_more(side, factor):
    assert reduction_factor((side, 10)) == reduction_factor((10, side)) == factor
    assert -(-side // factor) >= DECODE_SIDE or factor == 1


def test_a_heic_photo_reads_as_its_png(tmp_path):
    """iPhones save photos as HEIC, which Pillow reads only through pillow-heif."""
    seven = drawn_seven().convert("RGB")
    seven.save(tmp_path / "seven.png")
    seven.save(tmp_path / "seven.heic", quality=90)
    assert Image.open(tmp_path / "seven.heic").format == "HEIF"
    expected = to_mnist(load_image(tmp_path / "seven.png")).astype(int).reshape(28, 28)
    got = to_mnist(load_image(tmp_path / "seven.heic")).astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 4


def test_blank_and_unreadable_images(tmp_path):
    Image.new("L", (30, 30), 255).save(tmp_path / "blank.png")
    with pytest.raises(ImageError, match="no digit found"):
        to_mnist(load_image(tmp_path / "blank.png"), "blank.png")
    (tmp_path / "fake.png").write_text("not an image")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(tmp_path / "fake.png")
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "missing.png")


def cli_process(*args, cwd):
    """``python -m mnist_mlp …`` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "mnist_mlp", *args], cwd=cwd,
                          capture_output=True, text=True)


def cli(*args, cwd):
    """``python -m mnist_mlp …`` run in this process, its output and exit status as
    ``cli_process`` gives them: the command's code is then seen by coverage and mutation
    tools, and a test spares the interpreter's start-up."""
    from mnist_mlp.__main__ import main

    stdout, stderr, previous = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main(list(args))
        status = 0
    except SystemExit as stopped:  # as the interpreter maps it: None is 0, a message 1
        status = 0 if stopped.code is None else stopped.code if isinstance(
            stopped.code, int) else 1
    finally:
        os.chdir(previous)
    return subprocess.CompletedProcess(args, status, stdout.getvalue(), stderr.getvalue())


def test_cli_on_images_and_csv_rows_with_json(finished, tmp_path):
    drawn_one().save(tmp_path / "one.png")
    pixels, labels = synthetic_digits(3, seed=9)
    write_csv(tmp_path / "rows.csv", pixels, labels, header=None)
    np.savetxt(tmp_path / "pixels.csv", pixels, fmt="%d", delimiter=",")
    model = str(finished / "m/model.npz")
    result = cli_process("predict", str(tmp_path / "one.png"), str(tmp_path / "rows.csv"),
                 str(tmp_path / "pixels.csv"), "--model", model, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [o["input"].rsplit("/", 1)[-1] for o in out] == [
        "one.png", "rows.csv:row1", "rows.csv:row2", "rows.csv:row3",
        "pixels.csv:row1", "pixels.csv:row2", "pixels.csv:row3"]
    for o in out:
        assert len(o["top3"]) == 3 and o["top3"][0]["digit"] == o["digit"]
        probs = [t["probability"] for t in o["top3"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    # The synthetic model learned the synthetic digits: CSV rows are predicted right.
    assert [o["digit"] for o in out[1:4]] == labels.tolist() == [o["digit"] for o in out[4:]]
    assert [o.get("label") for o in out] == [None, *labels.tolist(), None, None, None]
    text = cli("predict", str(tmp_path / "one.png"), "--model", model, cwd=tmp_path)
    assert text.returncode == 0 and text.stdout.count("%") == 3
    table = cli("predict", str(tmp_path / "one.png"), str(tmp_path / "rows.csv"),
                str(tmp_path / "pixels.csv"), "--model", model, "--csv", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "\r" not in table.stdout  # lines end as the shell's tools expect
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [(r["input"], int(r["digit"]), float(r["probability"]), r["label"]) for r in rows] == [
        (o["input"], o["digit"], o["top3"][0]["probability"], str(o.get("label", "")))
        for o in out]


@pytest.mark.parametrize("digits", [(7, 0), (7, 0, 1)])  # two: the fewest that make a number
def test_cli_reads_a_number_digit_by_digit(finished, tmp_path, digits):
    Image.fromarray((drawn_number(digits) * 255).astype(np.uint8)).save(tmp_path / "n.png")
    drawn_one().save(tmp_path / "one.png")
    model = str(finished / "m/model.npz")
    text = cli("predict", "n.png", "one.png", "--model", model, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    places = range(1, len(digits) + 1)
    assert [line.split(": ")[0] for line in lines] == [
        *(f"n.png:digit{k}" for k in places), "n.png", "one.png"]
    assert lines[-2] == "n.png: " + "".join(line.split(": ")[1][0] for line in lines[:-2])
    out = json.loads(cli("predict", "n.png", "--model", model, "--json", cwd=tmp_path).stdout)
    assert [(o["input"], o["digit"]) for o in out] == [
        (f"n.png:digit{k}", int(lines[k - 1].split(": ")[1][0])) for k in places]


def test_cli_reads_unlabelled_csv_rows_as_rows_not_a_number(finished, tmp_path):
    pixels, _ = synthetic_digits(3, seed=9)
    np.savetxt(tmp_path / "pixels.csv", pixels, fmt="%d", delimiter=",")
    text = cli("predict", "pixels.csv", "--model", str(finished / "m/model.npz"), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert [line.split(": ")[0] for line in text.stdout.splitlines()] == [
        "pixels.csv:row1", "pixels.csv:row2", "pixels.csv:row3"]


def test_cli_scores_labelled_rows_as_the_evaluate_stage_does(finished, tmp_path):
    """The raw test CSV carries labels: predict's accuracy on it is evaluate's test accuracy,
    and relabelling three rows it got right makes exactly those three wrong."""
    def wrong_rows(csv):
        result = cli("predict", str(csv), "--model", "m/model.npz", cwd=finished)
        assert result.returncode == 0, result.stderr
        *rows, summary = result.stdout.splitlines()
        assert len(rows) == 200 and rows[0].startswith(f"{csv}:row1: ")
        return [i for i, row in enumerate(rows) if row.endswith("(wrong)")], summary

    wrong, summary = wrong_rows("data/raw/test.csv")
    accuracy = json.loads((finished / "r/eval.json").read_text())["test"]["accuracy"]
    assert summary == f"accuracy on the 200 labelled digits: {accuracy:.2%} ({len(wrong)} wrong)"
    assert len(wrong) == round(200 * (1 - accuracy))
    frame = pd.read_csv(finished / "data/raw/test.csv")
    relabel = [i for i in range(200) if i not in wrong][:3]
    frame.iloc[relabel, 0] = (frame.iloc[relabel, 0] + 1) % 10
    frame.to_csv(tmp_path / "relabelled.csv", index=False)
    relabelled_wrong, summary = wrong_rows(tmp_path / "relabelled.csv")
    assert relabelled_wrong == sorted(wrong + relabel)
    assert summary.endswith(f"({len(wrong) + 3} wrong)")


def test_cli_writes_a_kaggle_submission_for_one_unlabelled_csv(finished, tmp_path):
    """Kaggle's test.csv: header pixel0..pixel783, no label column; the submission numbers its
    rows from 1. Anything but one CSV file is refused before the model is read."""
    pixels, labels = synthetic_digits(5, seed=4)
    header = ",".join(f"pixel{i}" for i in range(784))
    np.savetxt(tmp_path / "test.csv", pixels, fmt="%d", delimiter=",", header=header,
               comments="")
    model = str(finished / "m/model.npz")
    result = cli("predict", "test.csv", "--kaggle", "--model", model, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n") == ["ImageId,Label", *(f"{i},{y}" for i, y in
                                                            enumerate(labels, start=1)), ""]
    drawn_one().save(tmp_path / "one.png")
    for inputs in (["test.csv", "test.csv"], ["one.png"]):
        refused = cli("predict", *inputs, "--kaggle", "--model", "missing.npz", cwd=tmp_path)
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr == f"error: --kaggle takes one CSV file, such as Kaggle's " \
                                 f"test.csv; got {' '.join(inputs)}\n"
    (tmp_path / "short.csv").write_text(header + "\n1,2,3\n")
    broken = cli("predict", "short.csv", "--kaggle", "--model", model, cwd=tmp_path)
    assert broken.returncode == 1 and broken.stdout == "" and "short.csv" in broken.stderr


@pytest.mark.parametrize("setup, expected", [
    (lambda d: (d / "x.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken"), "not a readable image"),
    (lambda d: Image.new("L", (20, 20), 0).save(d / "x.png"), "no digit found"),
    (lambda d: None, "x.png: file not found"),
])
def test_cli_bad_image_is_one_clear_error(finished, tmp_path, setup, expected):
    setup(tmp_path)
    result = cli("predict", str(tmp_path / "x.png"), "--model", str(finished / "m/model.npz"),
                 cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_bad_inputs_do_not_stop_the_good_ones(finished, tmp_path, as_json):
    drawn_one().save(tmp_path / "one.png")
    Image.new("L", (20, 20), 0).save(tmp_path / "blank.png")
    drawn_one().save(tmp_path / "two.png")
    result = cli("predict", "one.png", "blank.png", "gone.csv", "two.png", "--model",
                 str(finished / "m/model.npz"), *(["--json"] if as_json else []), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: blank.png: no digit found (the image is blank or has no contrast)",
        "error: gone.csv: file not found"]
    if as_json:
        assert [o["input"] for o in json.loads(result.stdout)] == ["one.png", "two.png"]
    else:
        assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["one.png",
                                                                                "two.png"]
    only_bad = cli("predict", "blank.png", "--json", "--model", str(finished / "m/model.npz"),
                   cwd=tmp_path)
    assert only_bad.returncode == 1 and json.loads(only_bad.stdout) == []
    with pytest.raises(ImageError, match="^blank.png: no digit found"):  # the first failure
        cli("--debug", "predict", "one.png", "blank.png", "gone.csv", "--model",
            str(finished / "m/model.npz"), cwd=tmp_path)


def test_cli_reads_the_images_and_csv_files_in_and_under_a_directory(finished, tmp_path):
    digits = tmp_path / "digits"
    (digits / "nested").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    drawn_one().save(digits / "b.png")
    drawn_one().save(digits / "a.jpg")
    drawn_one().convert("RGB").save(digits / "d.HEIC")
    pixels, labels = synthetic_digits(2, seed=3)
    write_csv(digits / "c.csv", pixels, labels, header=None)
    (digits / "notes.txt").write_text("not an image")
    drawn_one().save(digits / "nested" / "deeper.png")
    (digits / ".thumbnails").mkdir()
    drawn_one().save(digits / ".thumbnails" / "b.png")  # hidden: left out
    drawn_one().save(digits / "._a.png")  # macOS's metadata beside a copied file: left out
    (tmp_path / "empty" / "sub").mkdir()
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("not an image")
    result = cli("predict", "digits", "empty", "--json", "--model",
                 str(finished / "m/model.npz"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("error: empty: a directory with no image or CSV files in it or "
                             "under it\n")
    assert [o["input"] for o in json.loads(result.stdout)] == [
        "digits/a.jpg", "digits/b.png", "digits/c.csv:row1", "digits/c.csv:row2",
        "digits/d.HEIC", "digits/nested/deeper.png"]


def test_one_digit_reads_a_number_image_as_one_digit(finished, tmp_path):
    number = (drawn_number((1, 7), 40) * 255).astype(np.uint8)
    Image.fromarray(number).save(tmp_path / "n.png")
    model = str(finished / "m/model.npz")
    as_number = cli("predict", "n.png", "--json", "--model", model, cwd=tmp_path)
    assert [o["input"] for o in json.loads(as_number.stdout)] == ["n.png:digit1", "n.png:digit2"]
    whole = cli("predict", "n.png", "--json", "--one-digit", "--model", model, cwd=tmp_path)
    assert whole.returncode == 0 and [o["input"] for o in json.loads(whole.stdout)] == ["n.png"]
    reading = predict.model_reading(finished / "m/model.npz")(to_mnist(number / 255)[None])[0]
    assert [t["probability"] for t in json.loads(whole.stdout)[0]["top3"]] == \
        [round(float(p), 6) for p in np.sort(reading)[::-1][:3]]


def test_folder_labels_score_each_image_by_its_folder(finished, tmp_path, monkeypatch):
    """A folder per class, as mnist_png stores MNIST: testing/7/0.png. Each image is one
    digit, even one that reads as a number (b.png: a 1 and a 7); one outside such a folder is
    an error, and a CSV's rows keep their own labels."""
    testing = tmp_path / "mnist_png" / "testing"
    for folder in ("1", "7"):
        (testing / folder).mkdir(parents=True)
        drawn_one().save(testing / folder / "a.png")
    Image.fromarray((drawn_number((1, 7), 40) * 255).astype(np.uint8)).save(
        testing / "1" / "b.png")
    drawn_one().save(tmp_path / "mnist_png" / "loose.png")
    pixels, labels = synthetic_digits(2, seed=3)
    write_csv(testing / "rows.csv", pixels, labels, header=None)  # its own labels
    model = str(finished / "m/model.npz")
    result = cli("predict", "mnist_png", "--folder-labels", "--model", model, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("error: mnist_png/loose.png: not in a folder named 0 to 9, so it "
                             "has no label (--folder-labels)\n")
    monkeypatch.chdir(tmp_path)
    predictions, _ = predict.predict_files(["mnist_png"], model, folder_labels=True)
    assert [(p.source, p.label) for p in predictions] == [
        ("mnist_png/testing/1/a.png", 1), ("mnist_png/testing/1/b.png", 1),
        ("mnist_png/testing/7/a.png", 7), ("mnist_png/testing/rows.csv:row1", labels[0]),
        ("mnist_png/testing/rows.csv:row2", labels[1])]
    correct = sum(p.digit == p.label for p in predictions)
    assert result.stdout.splitlines() == [str(p) for p in predictions] + [
        f"accuracy on the 5 labelled digits: {correct / 5:.2%} ({5 - correct} wrong)"]
    assert str(predictions[2]).endswith(", label 7" + " (wrong)" * (predictions[2].digit != 7))
    assert predict.folder_label("testing/0/x.png") == 0
    for outside in ("x.png", "testing/10/x.png", "testing/seven/x.png", "testing/٣/x.png"):
        with pytest.raises(ImageError, match="not in a folder named 0 to 9"):
            predict.folder_label(outside)


def test_input_files_are_the_files_given_and_the_images_and_csvs_in_and_under_directories(
        tmp_path):
    scans = tmp_path / "scans"
    for name in ("b.png", "a.JPG", "c.csv", "notes.txt", "._a.png", "7/x.png", "7/y.csv",
                 "7/deeper/z.tif", ".thumbnails/a.png", "7/.hidden/w.png", "empty/readme.md"):
        (scans / name).parent.mkdir(parents=True, exist_ok=True)
        (scans / name).write_bytes(b"")
    (tmp_path / "nothing").mkdir()
    failures = []
    files = predict.input_files([str(tmp_path / "given.png"), str(scans),
                                 str(tmp_path / "nothing"), "missing.csv"], failures)
    assert files == [str(tmp_path / "given.png")] + [str(scans / name) for name in (
        "7/deeper/z.tif", "7/x.png", "7/y.csv", "a.JPG", "b.png", "c.csv")] + ["missing.csv"]
    assert [str(f) for f in failures] == [
        f"{tmp_path / 'nothing'}: a directory with no image or CSV files in it or under it"]


def test_links_to_directories_are_followed_and_each_directory_is_read_once(tmp_path):
    """A folder of scans that links to images kept elsewhere is read with them; a link back up
    the tree, or to a folder also reached directly, reads nothing twice."""
    scans, elsewhere = tmp_path / "scans", tmp_path / "elsewhere"
    for name in (scans / "7" / "x.png", elsewhere / "y.png", elsewhere / "deeper" / "z.png"):
        name.parent.mkdir(parents=True, exist_ok=True)
        name.write_bytes(b"")
    (scans / "more").symlink_to(elsewhere)
    (scans / "7" / "up").symlink_to(scans)  # a loop
    (scans / "0-seven").symlink_to(scans / "7")  # sorts before 7, a link: 7 is read
    (elsewhere / "back").symlink_to(scans / "7")
    (scans / "gone").symlink_to(tmp_path / "removed")
    failures = []
    assert predict.input_files([str(scans)], failures) == [str(scans / name) for name in (
        "7/x.png", "more/deeper/z.png", "more/y.png")]
    assert failures == []
    assert predict.input_files([str(scans / "more")], failures) == [
        str(scans / "more" / name) for name in ("back/x.png", "deeper/z.png", "y.png")]


def test_a_url_is_refused_with_what_to_give_instead(tmp_path, monkeypatch):
    """Not read as a path, which would be https:/… "not found"; a file so named is read."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "http:").mkdir()
    (tmp_path / "http:" / "x.png").write_bytes(b"")
    failures = []
    files = predict.input_files(["https://example.org/7.png", "file:///scans/a%20b.png",
                                 "s3://bucket/digits/", "http://x.png", "C://d.png"], failures)
    assert files == ["http://x.png", "C://d.png"]
    assert [str(f) for f in failures] == [
        "https://example.org/7.png: a URL; predict reads files on this machine: download it "
        "first",
        "file:///scans/a%20b.png: a URL; predict reads files on this machine: give the file's "
        "path (/scans/a b.png)",
        "s3://bucket/digits/: a URL; predict reads files on this machine: download it first"]


@pytest.mark.parametrize("info, expected", [
    ({"normalization": {"mean": 0.1, "std": 0.0}}, "unreadable 'normalization'"),
    ({"normalization": {"mean": 0.1, "scale": 2}}, "unreadable 'normalization'"),
    (["a list"], "unreadable 'meta' entry ('info' is not a mapping)"),
])
def test_cli_model_with_bad_info_is_one_clear_error(finished, tmp_path, info, expected):
    with_info(finished / "m/model.npz", tmp_path / "model.npz", info)
    drawn_one().save(tmp_path / "one.png")
    result = cli("predict", "one.png", "--model", "model.npz", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"error: model.npz: {expected}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_directory_that_cannot_be_listed_is_one_error_not_skipped(tmp_path, monkeypatch):
    """As if without permission (the tests may run as root, which permissions do not stop)."""
    for name in ("scans/a.png", "scans/locked/b.png", "locked_too/c.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    scandir = os.scandir

    def refusing(path="."):
        if os.path.basename(os.fspath(path)).startswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    failures = []
    files = predict.input_files([str(tmp_path / "scans"), str(tmp_path / "locked_too")],
                                failures)
    assert files == [str(tmp_path / "scans" / "a.png")]
    assert [str(f) for f in failures] == [
        f"{tmp_path / name}: a directory that cannot be read (Permission denied)"
        for name in ("scans/locked", "locked_too")]


def test_cli_without_a_command_is_a_usage_error(tmp_path):
    result = cli(cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("usage: python -m mnist_mlp ")
    assert "the following arguments are required: command" in result.stderr


def test_cli_missing_model(tmp_path):
    drawn_one().save(tmp_path / "one.png")
    result = cli("predict", "one.png", cwd=tmp_path)
    assert result.returncode == 1 and "data/model/model.npz: file not found" in result.stderr


def test_photos_experiment_runs_on_a_trained_model(finished):
    """experiments/photos.py, whose figures docs/predict.md quotes, on the synthetic pipeline."""
    result = subprocess.run([sys.executable, str(REPO / "experiments/photos.py"), "--model",
                             "m/model.npz", "--test", "p/test.npz", "--digits", "4"],
                            cwd=finished, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert len(rows) == 57 and rows[0].startswith("photo: clean")
    assert rows[-1].startswith("3 digits in pen, strokes 1.2%, boxes touching")
    assert all(row.split()[-3].endswith("%") for row in rows)


def test_photos_experiment_without_a_model_is_one_clear_error(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "experiments/photos.py"), "--model",
                             "nosuch.npz"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == "error: nosuch.npz: file not found (run the stage that writes it)\n"
