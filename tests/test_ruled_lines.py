"""ruled_lines: printed lines are found and taken out; a digit's strokes are not lines."""

import numpy as np
import pytest

from mnist_mlp.ruled_lines import (block_max, evenly_spaced, printed_lines, take_out_ruled_lines,
                                   turned_rows)


def no_noise(pixels):
    return 0.0


def bars(thickness, spacing, count, side=120):
    """Horizontal bars across an image, ``count`` of them, ``spacing`` rows apart."""
    ink = np.zeros((side, side), np.float32)
    for top in range(10, 10 + spacing * count, spacing):
        ink[top:top + thickness] = 0.3
    return ink


def test_four_thin_evenly_spaced_lines_are_found_and_taken_out():
    ink = bars(2, 25, 4)
    ink[20:100, 55:65] = 0.9  # a stroke across them
    lines = printed_lines(ink, np.ones(ink.shape, bool), ink > 0.01, 0.0)
    assert lines is not None and np.allclose(lines[10:12], 0.3) and lines[30].max() == 0
    cleaned = ink.copy()
    on_lines = take_out_ruled_lines(cleaned, None, no_noise)
    assert cleaned[:, :50].max() == 0 and cleaned[:, 70:].max() == 0
    assert cleaned[20:100, 55:65].min() > 0.5  # the stroke stays, fainter where lines crossed
    # The lines' rows, and one either side; not the paper between them.
    assert on_lines[9:13].all() and on_lines[34:38].all() and not on_lines[15:30].any()
    assert np.flatnonzero(on_lines.any(axis=1)).tolist() == [
        row for top in (10, 35, 60, 85) for row in range(top - 1, top + 3)]
    assert lines.dtype == np.float32


@pytest.mark.parametrize("thickness, spacing, count", [(2, 25, 3), (12, 25, 4)],
                         ids=["three bars (a bold 3)", "thick bars"])
def test_bars_that_could_be_a_digits_strokes_are_not_lines(thickness, spacing, count):
    ink = bars(thickness, spacing, count)
    assert printed_lines(ink, np.ones(ink.shape, bool), ink > 0.01, 0.0) is None
    cleaned = ink.copy()
    assert take_out_ruled_lines(cleaned, None, no_noise) is None
    assert np.array_equal(cleaned, ink)


def test_lines_within_the_papers_noise_are_left_to_the_noise_floor():
    ink = bars(2, 25, 4)
    assert take_out_ruled_lines(ink.copy(), None, lambda pixels: 0.4) is None


def test_lines_are_found_where_the_desk_leaves_the_paper():
    """Coverage counts paper only: lines end at the sheet's edge."""
    ink = bars(2, 25, 4)
    desk = np.zeros(ink.shape, bool)
    desk[:, 90:] = True
    ink[desk] = 0
    assert printed_lines(ink, ~desk, ink > 0.01, 0.0) is not None
    assert take_out_ruled_lines(ink, desk, no_noise) is not None and ink.max() == 0


def tilted_lines(turn, side=256, spacing=16):
    """Lines two pixels thick, ``spacing`` apart, turned by ``turn`` degrees (positive: down
    to the right, as ``turned_rows`` turns); and each pixel's distance below the line above."""
    y, x = np.mgrid[0:side, 0:side]
    below = (y * np.cos(np.radians(turn)) - x * np.sin(np.radians(turn))) % spacing
    return np.where(below < 2, 0.3, 0.0).astype(np.float32), below


@pytest.mark.parametrize("vertical", [False, True], ids=["ruled", "vertical"])
@pytest.mark.parametrize("turn", [-9.3, -4.3, -1.7, 0.55, 4.3, 8.8])
def test_turned_lines_are_found_at_their_angle_and_taken_out(turn, vertical):
    """The angle is searched in 1-degree steps, then 0.1-degree ones, for the sharpest rows.
    For these two-pixel lines that angle is up to 0.2 degrees off their own (measured: -1.9
    for -1.7, 8.6 for 8.8), and a line drifts almost a pixel across the 256-pixel image, out
    of the band taken out: at most 2.2% of the lines' pixels were left inside the image, 4.6%
    with the corners (rows cut short there are not looked at)."""
    ink, below = tilted_lines(turn)
    if vertical:
        ink, below = ink.T.copy(), below.T
    on_line = below < 2
    inside = np.zeros(ink.shape, bool)
    inside[32:-32, 32:-32] = True
    cleaned = ink.copy()
    taken = take_out_ruled_lines(cleaned, None, no_noise)
    assert taken is not None
    left = cleaned > 0.01
    assert left[inside].sum() <= 0.03 * on_line[inside].sum()
    assert left.sum() <= 0.06 * on_line.sum()
    assert not taken[(below > 3.5) & (below < 14.5)].any()  # only a line and a row either side
    across = 0.0 if vertical else 90.0
    assert printed_lines(ink, np.ones(ink.shape, bool), ink > 0.01, across) is None


@pytest.mark.parametrize("turn", [8.8, -9.3])
def test_ink_in_the_corners_where_turned_rows_are_short_hides_no_line(turn):
    """A row turned across a corner is a few pixels long, all inked by any stroke there: as
    a line it joined the lines beside it into one too thick, and none was found."""
    ink, _ = tilted_lines(turn)
    short_corners = ([np.s_[-24:, :24], np.s_[:24, -24:]] if turn > 0
                     else [np.s_[:24, :24], np.s_[-24:, -24:]])
    for corner in short_corners:
        ink[corner] = 0.6
    assert printed_lines(ink, np.ones(ink.shape, bool), ink > 0.01, 0.0) is not None


def test_rows_turned_by_a_positive_angle_run_down_to_the_right():
    columns = np.arange(200)
    line = np.round(50 + columns * np.tan(np.radians(10))).astype(int)
    assert np.ptp(turned_rows((200, 200), 10.0)[line, columns]) <= 1
    assert np.ptp(turned_rows((200, 200), -10.0)[line, columns]) > 30
    assert turned_rows((3, 4), 0.0).tolist() == [[0] * 4, [1] * 4, [2] * 4]


def test_a_stroke_along_a_line_over_half_its_length_stays():
    """A line's darkness is its rows' median, so a stroke along more than half of it sets
    it; it is then held to 1.25 times the median of it and the two lines either side."""
    ink = bars(2, 20, 6, side=200)
    ink[50:52, 20:180] = 0.9  # on the third line, 80% of its length
    cleaned = ink.copy()
    take_out_ruled_lines(cleaned, None, no_noise)
    np.testing.assert_allclose(cleaned[50:52, 20:180], 0.9 - 1.25 * 0.3, rtol=1e-6)
    np.testing.assert_allclose(cleaned[50:52, :20], 0.3 - 1.25 * 0.3, rtol=1e-6)  # the rest
    assert np.delete(cleaned, [50, 51], axis=0).max() < 1e-6  # the other lines: all out


@pytest.mark.parametrize("thickness, spacing, lines", [
    (1, 3, True), (1, 2, False),  # lines three rows apart are the closest
    (2, 6, True), (2, 5, False), (3, 6, False)])  # no thicker than 0.35 of the spacing
def test_lines_are_thin_against_their_spacing(thickness, spacing, lines):
    starts = 10 + spacing * np.arange(6)
    assert evenly_spaced(starts, starts + thickness) is lines


def test_spacing_may_change_gradually_or_skip_a_line():
    centres = np.array([10, 19, 29, 40, 52, 65, 91])  # widening, then one line missing
    assert evenly_spaced(centres - 1, centres + 1)
    assert not evenly_spaced(np.array([10, 20, 37, 45]) - 1, np.array([10, 20, 37, 45]) + 1)


@pytest.mark.parametrize("block", [1, 2, 3, 4])
def test_block_max_is_each_tiles_largest_value(block):
    image = np.random.default_rng(block).random((7, 10)).astype(np.float32)
    expected = [[image[r:r + block, c:c + block].max() for c in range(0, 10, block)]
                for r in range(0, 7, block)]
    np.testing.assert_array_equal(block_max(image, block), expected)


def test_block_max_keeps_thin_lines_and_partial_tiles():
    image = np.zeros((7, 10), np.float32)
    image[3, :] = 0.4
    image[6, 9] = 1.0
    pooled = block_max(image, 3)
    assert pooled.shape == (3, 4)
    assert np.allclose(pooled[1], 0.4) and pooled[2, 3] == 1.0 and pooled[0].max() == 0
