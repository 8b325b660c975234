"""digits: the ink of an image -> MNIST-style 28x28 digits (the box, the strokes, the field;
a number's digits, parted at gaps and thin columns)."""

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy.ndimage import binary_dilation, center_of_mass, find_objects, label, sum_labels

from mnist_mlp.digits import (SMALL_DIGIT, THINNED_STROKE, digit_box, disk, is_close_dash,
                              is_plus, is_sign, mnist_field, stroke_width, thin_cuts, to_mnist,
                              to_mnist_digits, true_runs, with_mnist_strokes)
from mnist_mlp.paper import PREVIEW_SIDE, in_photo, shrunk

from drawings import drawn_number, drawn_one, drawn_seven, ink_box, reader


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


@pytest.mark.parametrize("sign", ["dash", "plus", "equals"])
def test_a_sign_between_digits_goes_with_neither(sign):
    """A dash, a plus or an equals sign between a number's digits, clear of the top and bottom
    fifths of their height, is left out: joined to the seven before it, it made it read 2."""
    number = drawn_number((7, 1), gap=140)  # the gap: columns 180-320, rows 80-240
    if sign == "dash":
        number[152:168, 220:280] = 0
    elif sign == "plus":
        number[152:168, 220:280] = 0
        number[130:190, 242:258] = 0
    else:
        number[135:150, 220:280] = 0
        number[170:185, 220:280] = 0
    got = to_mnist_digits(number).astype(int)
    assert got.shape == (2, 784)
    assert_each_as_if_alone(got, (7, 1))


@pytest.mark.parametrize("digits", [(7,), (7, 1)])
@pytest.mark.parametrize("sign", ["minus", "plus"])
def test_a_minus_or_a_plus_before_a_number_goes_with_no_digit(digits, sign):
    """A dash before the first digit (a minus, 40 pixels before it), clear of the top and
    bottom fifths of its height, is left out, for one digit as for more; so is a plus."""
    number = drawn_number(digits, gap=40, paper=(80, 200))  # the first digit: columns 200-300
    number[152:168, 100:160] = 0
    if sign == "plus":
        number[130:190, 122:138] = 0
    got = to_mnist_digits(number).astype(int)
    assert got.shape == (len(digits), 784)
    assert_each_as_if_alone(got, digits)


@pytest.mark.parametrize("digits", [(7,), (1, 7)])
def test_a_plus_after_a_number_goes_with_no_digit_a_dash_with_the_last(digits):
    """A plus after the last digit ("18+") is left out; a dash there stays with the digit, as
    a 7's bar written apart would."""
    number = drawn_number(digits, gap=40, paper=(80, 200))
    right = number.shape[1] - 200  # the last digit's right edge
    number[152:168, right + 40:right + 100] = 0
    dashed = to_mnist_digits(number).astype(int)
    number[130:190, right + 62:right + 78] = 0
    got = to_mnist_digits(number).astype(int)
    assert got.shape == dashed.shape == (len(digits), 784)
    assert_each_as_if_alone(got, digits)
    alone = to_mnist(drawn_number(digits[-1:])).astype(int)
    assert np.abs(dashed[-1] - alone).mean() > 8


def test_a_plus_with_more_ink_than_the_digits_is_no_digit():
    """The digits' heights are measured on the part with the most ink, but never on a plus:
    taken for the measure, this bold one left the 1 no digit, and the two read as one."""
    number = drawn_number((1,), gap=40, paper=(80, 200))  # the 1: rows 80-240
    number[148:172, 60:156] = 0
    number[112:208, 96:120] = 0
    assert (number[:, :180] == 0).sum() > (number[:, 180:] == 0).sum()
    got = to_mnist_digits(number).astype(int)
    assert got.shape == (1, 784)
    assert_each_as_if_alone(got, (1,))


def ink_mask(cols: tuple[int, int], rows: tuple[int, int]) -> np.ndarray:
    """The ink mask, over rows 0-300, of a part in columns ``cols``: a box filled in ``rows``."""
    mask = np.zeros((300, cols[1] - cols[0]), bool)
    mask[rows[0]:rows[1]] = True
    return mask


@pytest.mark.parametrize("cols, rows, sign", [
    ((20, 160), (152, 168), True),      # a minus
    ((20, 160), (110, 126), False),     # a dash in the top fifth
    ((100, 160), (130, 190), False),    # as tall as wide but no cross: a stroke broken off
    ((20, 160), (150, 200), False),     # flat but a third of the height tall (a 4's arm)
    ((130, 160), (155, 165), False),    # under a quarter of the height long
    ((305, 335), (130, 190), True),     # between two digits any shape in the middle is one
    ((460, 520), (152, 168), False)])   # after the last digit: a 7's bar written apart
def test_which_parts_before_the_first_digit_and_after_the_last_are_signs(cols, rows, sign):
    """Before the first digit a dash or a plus is a sign, after the last a plus only."""
    digit_parts = [(slice(200, 300), 1.0, 80, 240), (slice(340, 440), 1.0, 80, 240)]
    assert is_sign(slice(*cols), *rows, digit_parts, ink_mask(cols, rows)) == sign
    plus = np.zeros((300, 60), bool)
    plus[152:168], plus[130:190, 22:38] = True, True
    assert is_sign(slice(100, 160), 130, 190, digit_parts, plus)
    assert is_sign(slice(460, 520), 130, 190, digit_parts, plus)  # after the last: "18+"
    assert not is_sign(slice(100, 160), 130, 190, [], plus)


def cross(height: int = 60, width: int = 60, bar: int = 12, row: int = 50, column: int = 50
          ) -> np.ndarray:
    """A cross ``height`` by ``width`` in the middle of 100 x 100, its bars ``bar`` thick: the
    one across centred on ``row``, the upright on ``column``."""
    shape = np.zeros((100, 100), bool)
    top, left = (100 - height) // 2, (100 - width) // 2
    shape[top:top + height, column - bar // 2:column + bar // 2] = True
    shape[row - bar // 2:row + bar // 2, left:left + width] = True
    return shape


def turned_cross(degrees: float, off: float) -> np.ndarray:
    """A cross drawn by hand: bars 60 pixels long and 4 thick in the middle of 100 x 100,
    crossing ``off`` of their length right of and below their middles, turned by
    ``degrees``."""
    img = Image.new("1", (100, 100), 0)
    turn = np.deg2rad(degrees)
    for ends in ([(20, 50 + off * 60), (80, 50 + off * 60)],
                 [(50 + off * 60, 20), (50 + off * 60, 80)]):
        ImageDraw.Draw(img).line([(50 + (x - 50) * np.cos(turn) - (y - 50) * np.sin(turn),
                                   50 + (x - 50) * np.sin(turn) + (y - 50) * np.cos(turn))
                                  for x, y in ends], fill=1, width=4)
    return np.asarray(img, bool)


def blotted(shape: np.ndarray) -> np.ndarray:
    """``shape`` with a blot in its box's top left corner: 14% of the corners' area."""
    shape = shape.copy()
    rows, cols = np.flatnonzero(shape.any(axis=1)), np.flatnonzero(shape.any(axis=0))
    shape[rows[0]:rows[0] + 15, cols[0]:cols[0] + 15] = True
    return shape


def l_shape() -> np.ndarray:
    """A 4's arm written apart: down, then right."""
    shape = np.zeros((100, 100), bool)
    shape[20:80, 20:32], shape[68:80, 20:80] = True, True
    return shape


def t_shape() -> np.ndarray:
    """A 5's hat and the top of its stem: a bar, and a stroke down from its end."""
    shape = np.zeros((100, 100), bool)
    shape[20:32, 20:80], shape[20:80, 20:32] = True, True
    return shape


@pytest.mark.parametrize("shape, span, plus", [
    (cross(), (0, 100), True),
    (cross(bar=4), (0, 100), True),                       # a pen's thin cross
    (cross(60, 40), (0, 100), True),
    (cross(76, 60), (0, 100), True),                      # 76% of the digit's height tall
    (np.roll(cross(), (6, -8), axis=(0, 1)), (0, 100), True),   # a little off the middle
    (turned_cross(12, 0.15), (0, 100), True),             # by hand: turned, crossing off
    (turned_cross(-12, -0.15), (0, 100), True),           # its middles
    (turned_cross(45, 0.0), (0, 100), False),             # an x
    (cross(), (20, 100), False),                          # up in the digit's top tenth
    (cross(36, 20, bar=4), (0, 100), False),              # under a quarter of its height wide
    (cross(80, 26, bar=4), (0, 100), False),              # three times as tall as wide
    (blotted(cross()), (0, 100), False),                  # a blot in a corner
    (cross(bar=2, row=78), (0, 100), False),              # upside down, a T
    (cross(bar=2, column=22), (0, 100), False),           # its upright at its edge
    (cross() & ~((np.arange(100) >= 26) & (np.arange(100) < 44))[:, None], (0, 100),
     False),                                              # its upright broken: 70% of it
    (np.rot90(l_shape(), 1), (0, 100), False),
    (l_shape(), (0, 100), False), (t_shape(), (0, 100), False),
    (np.zeros((100, 100), bool), (0, 100), False)])
def test_a_plus_is_a_cross_in_the_middle_of_the_digit_beside_it(shape, span, plus):
    assert is_plus(shape, *span) == plus


@pytest.mark.parametrize("top, bottom, sign", [
    (140, 260, True), (139, 260, False), (140, 261, False),  # clear: a fifth of 100-300
    (150, 170, True), (101, 130, False)])
def test_a_sign_keeps_a_fifth_of_its_neighbours_joint_height_clear(top, bottom, sign):
    """The joint height is the two nearest digits' together (here rows 100-300: the one
    before the part 100-260, the one after it 140-300), not the number's."""
    digit_parts = [(slice(0, 10), 1.0, 0, 160), (slice(20, 30), 1.0, 100, 260),
                   (slice(50, 60), 1.0, 140, 300), (slice(70, 80), 1.0, 0, 400)]
    shape = ink_mask((32, 48), (top, bottom))
    assert is_sign(slice(32, 48), top, bottom, digit_parts, shape) == sign
    assert not is_sign(slice(82, 90), 150, 170, digit_parts, shape)  # after the last
    assert not is_sign(slice(32, 48), 150, 170, digit_parts[1:2], shape)


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


@pytest.mark.parametrize("mark, left_out", [
    ("dash", True), ("thick dash", False), ("dash near the seven", False),
    ("dash high up", False)])
def test_a_dash_close_between_digits_goes_with_neither(mark, left_out):
    """A dash 12 pixels from each digit (7% of their height: one part for digit_columns, wide
    gaps for close_digits) is left out of both; one that is not flat (is_close_dash), one
    under a wide gap from a digit, or one not in the middle of the height goes with a digit,
    as a 4's bar broken off on both sides by narrower gaps does."""
    number = drawn_number((7, 1), gap=87)  # ink: the seven to column 188, the one from 304
    rows, cols = {"dash": ((152, 168), (200, 292)), "thick dash": ((136, 184), (200, 292)),
                  "dash near the seven": ((152, 168), (194, 292)),
                  "dash high up": ((100, 116), (200, 292))}[mark]
    number[slice(*rows), slice(*cols)] = 0
    got = to_mnist_digits(number, read=reader()).astype(int)
    assert got.shape == (2, 784)
    alone = [to_mnist(drawn_number([digit])).astype(int) for digit in (7, 1)]
    assert all(np.abs(field - digit).mean() < 8 for field, digit in zip(got, alone)) == left_out


@pytest.mark.parametrize("digits", [(7,), (7, 1)])
@pytest.mark.parametrize("mark, left_out", [("dash", True), ("thick dash", False)])
def test_a_minus_close_before_a_number_goes_with_no_digit(digits, mark, left_out):
    """A minus 12 pixels before the first digit (one part with it for digit_columns, a wide
    gap for close_digits) is left out, for one digit as for more; one a third of the height
    thick (a 4's arm broken off, not is_close_dash) stays with the digit."""
    number = drawn_number(digits, gap=60, paper=(80, 200))
    first = int(np.flatnonzero((number < 0.5).any(axis=0))[0])
    rows = {"dash": (152, 168), "thick dash": (136, 190)}[mark]
    number[slice(*rows), first - 12 - 88:first - 12] = 0
    got = to_mnist_digits(number, read=reader()).astype(int)
    assert got.shape == (len(digits), 784)
    alone = [to_mnist(drawn_number([digit])).astype(int) for digit in digits]
    assert all(np.abs(field - digit).mean() < 8 for field, digit in zip(got, alone)) == left_out


@pytest.mark.parametrize("where, apart, left_out", [
    ("before", 12, True), ("between", 12, True), ("after", 12, True), ("before", 6, False)])
def test_a_plus_close_to_digits_goes_with_none(where, apart, left_out):
    """A plus 12 pixels (7% of the height) from the digits beside it (one part with them for
    digit_columns, wide gaps for close_digits) is left out, before, between or after them;
    6 pixels from a digit, a gap narrower than CLOSE_WIDE_GAP, it goes with the digit."""
    number = drawn_number((7, 1), gap=87, paper=(80, 200))  # ink: 200-308, 424-
    left = {"before": 200 - apart - 92, "between": 308 + apart, "after": int(
        np.flatnonzero((number < 0.5).any(axis=0))[-1]) + 1 + apart}[where]
    number[152:168, left:left + 92] = 0
    number[124:196, left + 38:left + 54] = 0
    got = to_mnist_digits(number, read=reader()).astype(int)
    assert got.shape == (2, 784)
    alone = [to_mnist(drawn_number([digit])).astype(int) for digit in (7, 1)]
    assert all(np.abs(field - digit).mean() < 8 for field, digit in zip(got, alone)) == left_out


@pytest.mark.parametrize("rows, width, dash", [
    ((90, 100), 40, True), ((90, 100), 39, False),  # a quarter of the part's 160 rows long
    ((80, 100), 40, True), ((79, 100), 40, False),  # twice as wide as tall
    ((72, 82), 40, True), ((71, 81), 40, False), ((158, 168), 40, True),
    ((159, 169), 40, False)])  # a fifth of the height (32 rows) clear above and below
def test_a_close_dash_is_flat_long_and_in_the_middle(rows, width, dash):
    piece = np.zeros((200, width), bool)
    piece[slice(*rows)] = True
    assert is_close_dash(piece, 40, 200) == dash


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
