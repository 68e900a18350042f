"""The networks' activations in numpy: what serving and forecasting compute instead of calling Keras.

A module of its own (numpy only) so that the scorer, the sequence model and the hybrid share
them without importing one another.
"""
from __future__ import annotations

import numpy as np


def sigmoid(x):
    """Logistic function; the ``tanh`` form does not overflow for large ``|x|``."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def relu(x):
    return np.maximum(x, 0.0)


def softmax(x, axis=-1):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
