"""predict and its command line: images, CSV rows and directories in, JSON, CSV and Kaggle
output, the model file's normalization, bad inputs."""

import contextlib
import csv
import io
import json
import os
import pty
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mnist_mlp import predict
from mnist_mlp.digits import to_mnist, to_mnist_digits
from mnist_mlp.images import ImageError

from conftest import REPO, synthetic_digits, write_csv
from drawings import drawn_number, drawn_one


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
    for inputs in (["test.csv", "test.csv"], ["one.png"], ["-", "-"]):
        refused = cli("predict", *inputs, "--kaggle", "--model", "missing.npz", cwd=tmp_path)
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr == f"error: --kaggle takes one CSV file, such as Kaggle's " \
                                 f"test.csv (or - for one piped in); got {' '.join(inputs)}\n"
    (tmp_path / "short.csv").write_text(header + "\n1,2,3\n")
    broken = cli("predict", "short.csv", "--kaggle", "--model", model, cwd=tmp_path)
    assert broken.returncode == 1 and broken.stdout == "" and "short.csv" in broken.stderr


def piped(monkeypatch, data: bytes, terminal: bool = False) -> None:
    """Standard input for ``cli``: a pipe holding ``data``, or a terminal."""
    stdin = io.TextIOWrapper(io.BytesIO(data))
    stdin.isatty = lambda: terminal
    monkeypatch.setattr(sys, "stdin", stdin)


def test_cli_reads_an_image_or_csv_piped_in_as_it_reads_the_file(finished, tmp_path,
                                                                monkeypatch):
    """``-`` is standard input: the image of a number, labelled CSV rows with a header and
    Kaggle's test.csv read as their files do, under the name ``<stdin>``; ``./-`` is a
    directory so named."""
    Image.fromarray((drawn_number((7, 0)) * 255).astype(np.uint8)).save(tmp_path / "n.png")
    drawn_one().save(tmp_path / "one.png")
    pixels, labels = synthetic_digits(3, seed=9)
    write_csv(tmp_path / "rows.csv", pixels, labels)
    np.savetxt(tmp_path / "test.csv", pixels, fmt="%d", delimiter=",", comments="",
               header=",".join(f"pixel{i}" for i in range(784)))
    (tmp_path / "-").mkdir()
    drawn_one().save(tmp_path / "-" / "x.png")
    model = str(finished / "m/model.npz")
    for name, options in (("n.png", []), ("n.png", ["--json"]), ("rows.csv", []),
                          ("rows.csv", ["--csv"]), ("test.csv", ["--kaggle"])):
        inputs = [name] if options == ["--kaggle"] else ["one.png", name, "./-"]
        from_file = cli("predict", *inputs, *options, "--model", model, cwd=tmp_path)
        assert from_file.returncode == 0, from_file.stderr
        assert ("-/x.png" in from_file.stdout) == ("./-" in inputs)
        piped(monkeypatch, (tmp_path / name).read_bytes())
        from_pipe = cli("predict", *["-" if i == name else i for i in inputs], *options,
                        "--model", model, cwd=tmp_path)
        assert from_pipe.returncode == 0, from_pipe.stderr
        assert from_pipe.stdout == from_file.stdout.replace(name, "<stdin>")
    piped(monkeypatch, (tmp_path / "n.png").read_bytes())
    number = cli("predict", "-", "--model", model, cwd=tmp_path).stdout.splitlines()
    assert [line.split(": ")[0] for line in number] == ["<stdin>:digit1", "<stdin>:digit2",
                                                        "<stdin>"]


def png(img: Image.Image) -> bytes:
    file = io.BytesIO()
    img.save(file, "PNG")
    return file.getvalue()


ONE = png(drawn_one())


@pytest.mark.parametrize("inputs, data, terminal, expected", [
    (["-"], b"", False, "<stdin>: nothing was piped in"),
    (["-"], b"", True, "<stdin>: a terminal, not an image or CSV; pipe one in "
                       "(predict - < digit.png)"),
    (["-"], b"\x00\x01 not text", False, "<stdin>: not an image Pillow reads, nor CSV rows: "
                                       "binary data, not a CSV text file"),
    (["-"], b"7,0,0\n", False, "<stdin>: not an image Pillow reads, nor CSV rows: 3 columns, "
                               "expected 784 pixels, or a label and 784 pixels"),
    (["-"], ONE[:100], False, "<stdin>: not a readable image (image file is truncated)"),
    (["-", "--kaggle"], ONE, False, "<stdin>: binary data, not a CSV text file"),
    (["-", "--folder-labels"], ONE, False,
     "<stdin>: piped in, not in a folder, so it has no label (--folder-labels)"),
    (["-", "-"], ONE, False, "<stdin>: '-' given twice; standard input is read once"),
])
def test_cli_bad_standard_input_is_one_clear_error(finished, tmp_path, monkeypatch, inputs,
                                                   data, terminal, expected):
    piped(monkeypatch, data, terminal)
    result = cli("predict", *inputs, "--model", str(finished / "m/model.npz"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {expected}")
    assert len(result.stderr.splitlines()) == 1
    # Given twice, standard input is read once: its image is predicted.
    assert result.stdout.startswith("<stdin>: ") == (inputs == ["-", "-"])


def test_standard_input_as_a_shell_gives_it(finished, tmp_path):
    """Through the interpreter's own standard input: an image piped in, and a terminal, which
    is refused at once rather than waited on."""
    drawn_one().save(tmp_path / "one.png")
    command = [sys.executable, "-m", "mnist_mlp", "predict", "-", "--model",
               str(finished / "m/model.npz")]
    from_pipe = subprocess.run(command, input=(tmp_path / "one.png").read_bytes(),
                               capture_output=True, cwd=tmp_path, timeout=120)
    assert from_pipe.returncode == 0 and from_pipe.stdout.startswith(b"<stdin>: ")
    primary, terminal = pty.openpty()
    try:
        from_terminal = subprocess.run(command, stdin=terminal, capture_output=True,
                                       text=True, cwd=tmp_path, timeout=120)
    finally:
        os.close(primary)
        os.close(terminal)
    assert from_terminal.returncode == 1
    assert from_terminal.stderr.startswith("error: <stdin>: a terminal")
    closed = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            cwd=tmp_path, timeout=120, preexec_fn=lambda: os.close(0))
    assert closed.returncode == 1
    assert closed.stderr == "error: <stdin>: closed; pipe one in (predict - < digit.png)\n"


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
    assert all(row.split()[-3].endswith("%") for row in rows)
    # The rows docs/predict.md's table gives, in its order.
    table = (REPO / "docs/predict.md").read_text().split("## How well it reads today")[1]
    table = table.split("```text\n")[1].split("```")[0].splitlines()[1:]
    assert len(table) == len(rows) == 64
    assert [re.sub(r"\s+[\d.]+%.*", "", row) for row in rows] == [
        re.sub(r"\s+[\d.]+%.*", "", row) for row in table]


def test_photos_experiment_without_a_model_is_one_clear_error(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "experiments/photos.py"), "--model",
                             "nosuch.npz"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == "error: nosuch.npz: file not found (run the stage that writes it)\n"
