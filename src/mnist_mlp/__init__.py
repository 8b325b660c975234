"""A multilayer perceptron written from scratch in NumPy, trained on MNIST by a DVC pipeline."""

__version__ = "0.1.0"
