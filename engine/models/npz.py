"""Arrays of a saved model, mapped from their ``.npz`` file instead of read into the process.

``np.savez`` stores each array uncompressed, so :func:`load_npz` can hand the large ones out as
read-only views of a memory map of the file. A web worker then holds only the pages it reads (the
rows of the HCPs it scores, where a read copy costs it every row), and the workers of a machine
share those pages through the page cache.
"""
from __future__ import annotations

import mmap
import struct
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

#: arrays smaller than this are read (a mapping costs whole pages and a file handle)
MAP_MIN_BYTES = 1 << 20
#: a zip member's local file header; the member's data follows it, its name and its extra field
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}


def load_npz(path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file at ``path`` (as ``np.load(path, allow_pickle=False)``): the
    uncompressed ones of at least :data:`MAP_MIN_BYTES` mapped read-only, the others read."""
    path = Path(path)
    arrays = {}
    with np.load(path, allow_pickle=False) as archive, zipfile.ZipFile(path) as members, open(path, "rb") as file:
        mapped = None
        for info in members.infolist():
            name = info.filename.removesuffix(".npy")
            array = None
            if info.compress_type == zipfile.ZIP_STORED and info.file_size >= MAP_MIN_BYTES:
                mapped = mapped or mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
                array = _mapped(file, mapped, info)
            arrays[name] = archive[name] if array is None else array
    return arrays


def _mapped(file, mapped: mmap.mmap, info: zipfile.ZipInfo) -> np.ndarray | None:
    """The array of member ``info`` as a view of ``mapped`` (None for a header this cannot read)."""
    file.seek(info.header_offset)
    *_, name_length, extra_length = _LOCAL_HEADER.unpack(file.read(_LOCAL_HEADER.size))
    file.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    reader = _HEADER_READERS.get(npy_format.read_magic(file))
    if reader is None:
        return None
    shape, fortran_order, dtype = reader(file)
    if dtype.hasobject:
        raise ValueError(f"{info.filename}: object arrays are not loaded (allow_pickle=False)")
    array = np.frombuffer(mapped, dtype=dtype, count=int(np.prod(shape)), offset=file.tell())
    return array.reshape(shape, order="F" if fortran_order else "C")
