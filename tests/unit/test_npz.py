"""Saved arrays mapped from their .npz file: the same values as np.load, the large ones read-only views."""
from __future__ import annotations

import mmap

import numpy as np

from engine.models.npz import MAP_MIN_BYTES, load_npz


def _mapped(array: np.ndarray) -> bool:
    """The array's memory is a file mapping (its base chain ends in a view of an mmap)."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(getattr(base, "obj", base), mmap.mmap)


def test_large_arrays_are_mapped_read_only_and_equal_what_numpy_reads(tmp_path):
    rng = np.random.default_rng(0)
    rows = MAP_MIN_BYTES // (4 * 45) + 1
    arrays = {"layer/hcp_profile/0": rng.random((rows, 45), dtype=np.float32),  # odd widths: unaligned offsets
              "hcp_ids": np.array([f"{i:010d}" for i in range(rows * 5)]),
              "state": np.asfortranarray(rng.random((rows, 48))),
              "small": np.arange(7, dtype=np.int8), "flags": rng.random(MAP_MIN_BYTES + 3) > 0.5}
    np.savez(tmp_path / "a.npz", **arrays)
    loaded = load_npz(tmp_path / "a.npz")
    assert set(loaded) == set(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape, name
        assert np.array_equal(loaded[name], array), name
    for name in ("layer/hcp_profile/0", "hcp_ids", "state", "flags"):
        assert _mapped(loaded[name]) and not loaded[name].flags.writeable, name
    assert not _mapped(loaded["small"])


def test_compressed_members_are_read(tmp_path):
    big = np.arange(MAP_MIN_BYTES, dtype=np.int32)
    np.savez_compressed(tmp_path / "c.npz", big=big)
    loaded = load_npz(tmp_path / "c.npz")
    assert np.array_equal(loaded["big"], big) and not _mapped(loaded["big"])
