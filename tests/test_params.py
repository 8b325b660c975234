"""params.yaml against its schema."""

import hashlib
import re

import pytest
import yaml

from mnist_mlp.errors import ParamsError
from mnist_mlp.params import Params, load_params

from conftest import REPO


def test_committed_params_file_is_valid_and_complete():
    """Every key of the schema is spelled out in params.yaml, so users see what they can set."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    Params.model_validate(raw)
    for section, model in Params.model_fields.items():
        assert set(raw[section]) == set(model.annotation.model_fields), section


def test_a_key_left_out_takes_the_committed_value():
    """Deleting a line of params.yaml changes nothing, as the README's defaults say; only the
    hashes, which belong to the default wheel's files, default to no check."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    defaults = Params().model_dump()
    differing = {f"{section}.{key}" for section, values in raw.items()
                 for key, value in values.items() if defaults[section][key] != value}
    assert differing == {"download.train_sha256", "download.test_sha256"}
    assert defaults["download"]["train_sha256"] is None is defaults["download"]["test_sha256"]


def test_readme_documents_every_key_with_its_default():
    """The README's table of params gives each key's default as the schema has it."""
    rows = re.findall(r"^\| (`[a-z_0-9.]+`(?:, `[a-z_0-9.]+`)*) \| ([^|]+) \|",
                      (REPO / "README.md").read_text(), flags=re.MULTILINE)
    documented = {}
    for keys, defaults in rows:
        keys = [k.strip("`") for k in keys.split(", ")]
        values = [v.strip().strip("`") for v in defaults.split(", ")] if len(keys) > 1 \
            else [defaults.strip().strip("`")]
        documented.update(zip(keys, values))
    schema = Params().model_dump()
    for section, model in Params.model_fields.items():
        for key in model.annotation.model_fields:
            name = f"{section}.{key}"
            assert name in documented, f"{name} missing from the README's table"
            if key.endswith("sha256"):  # "(the file's hash)"
                continue
            value, expected = yaml.safe_load(documented[name]), schema[section][key]
            # PyYAML reads "1e-8" (no dot) as a string.
            assert (float(value) if isinstance(expected, float) else value) == expected, name


@pytest.mark.parametrize("text, expected", [
    ("train: {lerning_rate: 0.1}", "train.lerning_rate = 0.1: unknown key; allowed keys here: "
                                   "optimizer, lr"),
    ("train: {epochs: ten}", "train.epochs = 'ten': Input should be a valid integer"),
    ("train: {lr: 0}", "train.lr = 0: Input should be greater than 0"),
    ("train: {lr: -1}", "train.lr = -1: Input should be greater than 0"),
    ("train: {lr: .inf}", "train.lr = inf: Input should be a finite number"),
    ("augment: {elastic_alpha: .inf}", "augment.elastic_alpha = inf: Input should be a finite"),
    ("train: {batch_size: 0}", "train.batch_size = 0: must be a positive integer or 'full'"),
    ("train: {threads: -1}", "train.threads = -1: must be a non-negative integer or 'auto'"),
    ("train: {threads: many}", "train.threads = 'many': must be a non-negative integer or 'auto'"),
    ("prepare: {dev_size: 0}", "prepare.dev_size = 0: Input should be greater than 0"),
    # pydantic alone would train `epochs: yes` (YAML's true) for one epoch.
    ("train: {epochs: yes}", "train.epochs = True: must be a number, not true/false"),
    ("train: {lr: true}", "train.lr = True: must be a number, not true/false"),
    ("model: {hidden: [512, on]}", "model.hidden = [512, True]: must be a number, not true"),
    ("train: {early_stopping: no}", "train.early_stopping = False: Input should be 'none'"),
    ("train: {epochs: 3, warmup_epochs: 3}", "train: train.warmup_epochs = 3 is not below "
                                             "train.epochs = 3: the rate would still be rising"),
    ("train: {optimizer: adam, weight_decay: 0.05}", "train: train.weight_decay = 0.05 does "
                                                     "nothing with train.optimizer = 'adam'"),
    ("train: {schedule: step, min_lr: 1.0e-5}", "train: train.min_lr = 1e-05 does nothing with "
                                                "train.schedule = 'step'"),
    ("train: {lr: 0.001, min_lr: 0.01}", "train: train.min_lr = 0.01 is above train.lr = "
                                         "0.001: the cosine schedule would raise the rate"),
    ("prepare: {seed: -1}", "prepare.seed = -1: Input should be greater than or equal to 0"),
    ("train: {seed: -3}", "train.seed = -3: Input should be greater than or equal to 0"),
    ("model: {hidden: [], dropout: 0.2}", "model: model.dropout = 0.2 does nothing with "
                                          "model.hidden = []: it acts after each hidden layer"),
    ("model: {hidden: [], batchnorm: true}", "model: model.batchnorm = true does nothing with "
                                             "model.hidden = []"),
    ("model: {hidden: [64, 0]}", "model.hidden.1 = 0: Input should be greater than 0"),
    ("model: {activation: swish}", "model.activation = 'swish': Input should be 'relu', "
                                   "'leaky_relu', 'sigmoid', 'tanh' or 'gelu'"),
    ("model: {output: hinge}", "model.output = 'hinge': Input should be"),
    ("model: {init: lecun}", "model.init = 'lecun': Input should be 'he', 'xavier' or 'uniform'"),
    ("train: {optimizer: adagrad}", "train.optimizer = 'adagrad': Input should be 'sgd'"),
    ("train: {schedule: linear}", "train.schedule = 'linear': Input should be 'constant'"),
    ("model: {dropout: 1.0}", "model.dropout = 1.0: Input should be less than 1"),
    ("model: {dropout: -0.1}", "model.dropout = -0.1: Input should be greater than or equal to 0"),
    ("download: {source: url, train: ftp://x}", "download.train = 'ftp://x': with "
                                                "download.source 'url' this must be"),
    ("download: {source: url, train: 'file://data/t.csv'}", "download.train = "
     "'file://data/t.csv': a file:// URL takes an absolute path after three slashes "
     "(file:///path/to/file.csv); 'data' here is a host name"),
    ("download: {train_sha256: abc}", "download.train_sha256 = 'abc': must be the file's "
                                      "sha256, 64 hexadecimal digits (as `sha256sum FILE` "
                                      "prints them), or null to skip the check"),
    (f"download: {{test_sha256: {'a' * 65}}}", f"download.test_sha256 = '{'a' * 65}': must be"),
    ("download: {test_sha256: 12}", "download.test_sha256 = 12: must be the file's sha256"),
    ("model: {hidden: 512}", "model.hidden = 512: must be a list of layer widths: [512] for one "
                             "hidden layer of 512 units, [] for none"),
    ("model: {hidden: -5}", "model.hidden = -5: Input should be a valid list"),
    ("download: {source: url, train: 'http://example.com/t.csv'}",
     "download: download.train = 'http://example.com/t.csv' is plain http: set "
     "download.train_sha256"),
    ("plot: {grid_digits: 4200}", "plot.grid_digits = 4200: Input should be less than or equal "
                                  "to 256"),
    ("plot: {weight_images: 0}", "plot.weight_images = 0: Input should be greater than 0"),
    ("model: {batchnorm: true}\ntrain: {batch_size: 1}", "invalid params: model.batchnorm = "
                                                         "true needs train.batch_size of at "
                                                         "least 2"),
    ("modle: {}", "modle = {}: unknown key; allowed keys here: download, prepare"),
    ("[1, 2]", "expected a mapping of sections, got list"),
    ("train: {lr: [", "not valid YAML"),
    # DVC (ruamel.yaml) refuses a key given twice; PyYAML alone would keep the last value.
    ("train:\n  lr: 0.1\n  lr: 0.2\n", "found duplicate key 'lr' in "),
    ("train: {lr: 0.1}\nmodel: {}\ntrain: {epochs: 2}\n", "found duplicate key 'train'"),
])
def test_bad_params_name_key_value_and_allowed(tmp_path, text, expected):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError) as info:
        load_params(path)
    assert expected in str(info.value)


@pytest.mark.parametrize("url", ["file:///data/t.csv", "file://localhost/data/t.csv",
                                 "https://example.org/t.csv"])
def test_file_urls_with_no_host_or_localhost_and_https_urls_are_taken(tmp_path, url):
    path = tmp_path / "params.yaml"
    path.write_text(f"download: {{source: url, train: '{url}', test: null}}\n")
    assert load_params(path).download.train == url


def test_a_sha256_in_upper_case_is_taken_as_the_same_digest(tmp_path):
    """PowerShell's Get-FileHash prints upper case; the download compares hashlib's lower."""
    digest = hashlib.sha256(b"train").hexdigest()
    path = tmp_path / "params.yaml"
    path.write_text(f"download: {{train_sha256: {digest.upper()}, test_sha256: null}}\n")
    params = load_params(path).download
    assert (params.train_sha256, params.test_sha256) == (digest, None)


def test_switches_take_yaml_yes_and_no(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("model: {batchnorm: yes}\naugment: {enabled: on}\n")
    params = load_params(path)
    assert params.model.batchnorm is True and params.augment.enabled is True


def test_a_section_emptied_of_keys_takes_the_defaults(tmp_path):
    """Deleting a section's only line leaves ``onehot:``, which YAML reads as null."""
    path = tmp_path / "params.yaml"
    path.write_text("onehot:\ntrain:\n  lr: 0.01\n")
    params = load_params(path)
    assert params.onehot == Params().onehot and params.train.lr == 0.01


def test_a_merge_key_may_be_overridden_yet_a_key_given_twice_is_still_refused(tmp_path):
    """``<<: *anchor`` then one of the anchor's keys again is YAML's override, not a duplicate;
    a key given twice after a merge key is."""
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  <<: {lr: 0.01, epochs: 2}\n  lr: 0.02\n")
    params = load_params(path)
    assert (params.train.lr, params.train.epochs) == (0.02, 2)
    path.write_text("train:\n  <<: {lr: 0.01}\n  epochs: 2\n  epochs: 3\n")
    with pytest.raises(ParamsError, match="found duplicate key 'epochs'"):
        load_params(path)


def test_an_empty_params_file_takes_every_default(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("# every line deleted\n")
    assert load_params(path) == Params()


def test_unreadable_params_files(tmp_path):
    with pytest.raises(ParamsError, match="params file cannot be read \\(Is a directory\\)"):
        load_params(tmp_path)
    path = tmp_path / "params.yaml"
    path.write_bytes(b"train:\n  lr: \xff\n")
    with pytest.raises(ParamsError, match="not UTF-8 text"):
        load_params(path)


def test_missing_params_file(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_several_problems_are_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train: {lr: 0, epochs: ten}\nmodel: {activation: swish}\n")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    message = str(info.value)
    assert "\n" not in message
    problems = message.split(": invalid params: ", 1)[1].split("; ")
    assert [problem.split(" = ")[0] for problem in problems] == [
        "model.activation", "train.lr", "train.epochs"]
