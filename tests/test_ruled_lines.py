"""ruled_lines: printed lines are found and taken out; a digit's strokes are not lines."""

import numpy as np
import pytest

from mnist_mlp.ruled_lines import block_max, evenly_spaced, printed_lines, take_out_ruled_lines


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


def test_spacing_may_change_gradually_or_skip_a_line():
    centres = np.array([10, 19, 29, 40, 52, 65, 91])  # widening, then one line missing
    assert evenly_spaced(centres - 1, centres + 1)
    assert not evenly_spaced(np.array([10, 20, 37, 45]) - 1, np.array([10, 20, 37, 45]) + 1)


def test_block_max_keeps_thin_lines_and_partial_tiles():
    image = np.zeros((7, 10), np.float32)
    image[3, :] = 0.4
    image[6, 9] = 1.0
    pooled = block_max(image, 3)
    assert pooled.shape == (3, 4)
    assert np.allclose(pooled[1], 0.4) and pooled[2, 3] == 1.0 and pooled[0].max() == 0
