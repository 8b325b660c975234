"""Model files: round trip, and every damaged or hostile file refused with one message."""

import json

import numpy as np
import pytest

from mnist_mlp.errors import ModelFileError
from mnist_mlp.nn import Architecture, build_mlp, init_weights, load_model, model_arrays


def make_model(hidden=(16, 8), **arch):
    rng = np.random.default_rng(0)
    architecture = Architecture(input_dim=784, hidden=hidden, **arch)
    return build_mlp(architecture, init_weights(architecture, "he", rng), rng=rng)


def save(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


@pytest.mark.parametrize("arch", [{}, {"batchnorm": True, "dropout": 0.3},
                                  {"activation": "tanh", "output": "sigmoid_mse"},
                                  {"hidden": ()}])
def test_round_trip_gives_identical_predictions(tmp_path, arch):
    model = make_model(**arch)
    if arch.get("batchnorm"):
        model.forward(np.random.default_rng(1).random((32, 784), dtype=np.float32), training=True)
    path = save(tmp_path / "m.npz", model_arrays(model, {"note": "hi"}))
    loaded, info = load_model(path)
    assert info == {"note": "hi"}
    assert loaded.architecture == model.architecture
    assert all(array.dtype == np.float32 for array in loaded.params())
    x = np.random.default_rng(2).random((5, 784), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_missing_truncated_and_not_npz(tmp_path):
    with pytest.raises(ModelFileError, match="file not found"):
        load_model(tmp_path / "absent.npz")
    good = save(tmp_path / "m.npz", model_arrays(make_model()))
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ModelFileError, match="not a readable .npz"):
        load_model(truncated)
    text = tmp_path / "x.npz"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not an .npz file"):
        load_model(text)


def test_pickle_payload_is_refused_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    arrays = model_arrays(make_model())
    arrays["0.W"] = np.array([Exploit()], dtype=object)
    path = save(tmp_path / "evil.npz", arrays)
    with pytest.raises(ModelFileError, match="pickle payload"):
        load_model(path)
    assert not marker.exists()


def test_shapes_that_do_not_chain(tmp_path):
    arrays = model_arrays(make_model())
    arrays["2.W"] = np.zeros((15, 8), np.float32)
    with pytest.raises(ModelFileError, match=r"'2.W' has shape \(15, 8\).*expected \(16, 8\) "
                                              r"float32 \(layer widths 784 -> 16 -> 8 -> 10\)"):
        load_model(save(tmp_path / "m.npz", arrays))


def test_missing_array_and_wrong_dtype(tmp_path):
    arrays = model_arrays(make_model())
    del arrays["4.b"]
    with pytest.raises(ModelFileError, match=r"missing: \['4.b'\]; unexpected: none\)"):
        load_model(save(tmp_path / "a.npz", arrays))
    arrays = model_arrays(make_model())
    arrays["0.b"] = arrays["0.b"].astype(np.float64)
    with pytest.raises(ModelFileError, match="float64"):
        load_model(save(tmp_path / "b.npz", arrays))


def edited(edit_meta=None, **arrays):
    """The test model's arrays, its meta entry edited by ``edit_meta`` (a function of the parsed
    JSON) and then ``arrays`` set (None: removed; "meta" the raw entry)."""
    saved = model_arrays(make_model())
    if edit_meta is not None:
        meta = json.loads(str(saved["meta"]))
        edit_meta(meta)
        saved["meta"] = np.array(json.dumps(meta))
    for key, value in arrays.items():
        if value is None:
            del saved[key]
        else:
            saved[key] = value
    return saved


@pytest.mark.parametrize("arrays, message", [
    (edited(meta=None), "not a model file (no 'meta' entry)"),
    (edited(meta=np.array("{not json")), "unreadable 'meta' entry (Expecting"),
    (edited(lambda m: m.pop("architecture")), "unreadable 'meta' entry ('architecture')"),
    (edited(lambda m: m["architecture"].update(activation="swish")),
     "invalid architecture in 'meta' (unknown activation 'swish')"),
    (edited(lambda m: m["architecture"].update(width=3)),
     "invalid architecture in 'meta' ("),  # then Python's own TypeError, which varies
    (edited(extra=np.zeros(3, np.float32)),
     "arrays do not match the architecture (missing: none; unexpected: ['extra'])"),
    (edited(**{"2.W": np.full((16, 8), np.nan, np.float32)}),
     "array '2.W' contains NaN or infinite values"),
    (edited(**{"0.b": np.full(16, np.inf, np.float32)}),
     "array '0.b' contains NaN or infinite values"),
    (edited(lambda m: m.update(info=["a list"])),
     "unreadable 'meta' entry ('info' is not a mapping)"),
])
def test_damaged_model_files_name_what_is_wrong(tmp_path, arrays, message):
    path = save(tmp_path / "m.npz", arrays)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_a_model_file_without_info_loads_with_empty_info(tmp_path):
    _, info = load_model(save(tmp_path / "m.npz", edited(lambda m: m.pop("info", None))))
    assert info == {}


def test_incompatible_format_version(tmp_path):
    arrays = model_arrays(make_model())
    meta = json.loads(str(arrays["meta"]))
    meta["format_version"] = 99
    arrays["meta"] = np.array(json.dumps(meta))
    with pytest.raises(ModelFileError, match="format version 99 is not supported"):
        load_model(save(tmp_path / "m.npz", arrays))
