"""ChunkedExamples: every example once per epoch, a new order each epoch, built a chunk at a time."""
import numpy as np
import pytest

from engine.models.feeding import BATCHES_PER_CHUNK, ChunkedExamples


def _dataset(n, batch_size, shuffle):
    built = []

    def build(indices):
        built.append(len(indices))
        return {"x": indices.astype(np.float32)[:, None]}, indices * 10

    return ChunkedExamples(n, batch_size, build, shuffle=shuffle, seed=3), built


def _epoch(dataset):
    return np.concatenate([dataset[i][1] for i in range(len(dataset))]) // 10


def test_every_example_once_per_epoch_in_a_new_random_order():
    dataset, built = _dataset(1000, 7, shuffle=True)
    first = _epoch(dataset)
    assert len(dataset) == 143 and sorted(first) == list(range(1000)) and not (first == np.arange(1000)).all()
    # a chunk of batches is built at once, then sliced: never more examples at a time
    assert max(built) == BATCHES_PER_CHUNK * 7 and len(built) == -(-1000 // (BATCHES_PER_CHUNK * 7))
    dataset.on_epoch_end()
    second = _epoch(dataset)
    assert sorted(second) == list(range(1000)) and not (second == first).all()


def test_batches_carry_inputs_and_labels_of_the_same_examples():
    dataset, _ = _dataset(50, 8, shuffle=False)
    x, y = dataset[6]
    assert (x["x"][:, 0] * 10 == y).all() and list(y // 10) == [48, 49]
    with pytest.raises(IndexError):
        dataset[7]
