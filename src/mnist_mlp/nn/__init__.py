"""The neural-network engine: layers, output losses, optimizers, schedules, the MLP and its
model files."""

from .layers import ACTIVATIONS, BatchNorm, Dense, Dropout, Layer
from .losses import OUTPUTS, SigmoidMSE, SoftmaxCrossEntropy, cross_entropy
from .model_file import FORMAT_VERSION, load_model, model_arrays
from .network import INITS, MLP, Architecture, FlatParameters, build_mlp, init_weights
from .optimizers import Optimizer, make_optimizer
from .schedules import SCHEDULES, Schedule

__all__ = [
    "ACTIVATIONS", "BatchNorm", "Dense", "Dropout", "Layer", "OUTPUTS", "SigmoidMSE",
    "SoftmaxCrossEntropy", "cross_entropy", "FORMAT_VERSION", "load_model", "model_arrays",
    "INITS", "MLP", "Architecture", "FlatParameters", "build_mlp", "init_weights",
    "Optimizer", "make_optimizer", "SCHEDULES", "Schedule",
]
