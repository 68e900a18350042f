"""Keras feeding without whole-log arrays: examples are built a chunk of batches at a time.

A network's examples (a training touch and its HCP features, an LSTM window) are cheap to build
from the compact touch log but large once built (hundreds of floats each). :class:`ChunkedExamples`
builds them on demand, for a chunk of batches at a time, so memory stays bounded by the chunk
whatever the size of the log; each epoch visits the examples in a fresh random order, as Keras'
own shuffling of in-memory arrays would. Imported only when training (it imports Keras).
"""
from __future__ import annotations

from typing import Callable

import keras
import numpy as np

#: Batches built together: large enough to vectorise the feature code, small enough to bound memory.
BATCHES_PER_CHUNK = 16


class ChunkedExamples(keras.utils.PyDataset):
    """Batches of examples ``0 .. n - 1`` built by ``build(indices) -> (x, y)`` a chunk at a time.

    Parameters
    ----------
    n : number of examples.
    batch_size : examples per batch (the last one may be smaller).
    build : ``build(indices)`` returns ``(x, y)`` for the example indices, in that order: ``x`` a
        dict of arrays (or an array), ``y`` an array or a dict of arrays.
    shuffle : visit the examples in a new random order every epoch (training), else in order.
    seed : seeds the order.
    """

    def __init__(self, n: int, batch_size: int, build: Callable, shuffle: bool = False, seed: int = 0):
        super().__init__()
        if n < 1:
            raise ValueError("ChunkedExamples: no examples")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.build = build
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(self.n) if shuffle else np.arange(self.n)
        self._chunk: tuple[int, object, object] | None = None

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        chunk, offset = divmod(index, BATCHES_PER_CHUNK)
        if self._chunk is None or self._chunk[0] != chunk:
            span = BATCHES_PER_CHUNK * self.batch_size
            self._chunk = (chunk, *self.build(self._order[chunk * span:(chunk + 1) * span]))
        _, x, y = self._chunk
        rows = slice(offset * self.batch_size, (offset + 1) * self.batch_size)
        return _rows(x, rows), _rows(y, rows)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(self.n)
        self._chunk = None


def _rows(value, rows: slice):
    if isinstance(value, dict):
        return {k: v[rows] for k, v in value.items()}
    return value[rows]
