"""Synthetic HCP world with ground truth (see docs/INTERFACES.md §3).

The names below are loaded on first use (PEP 562): a module that needs one piece of the world, such
as the web's impact report reading :mod:`engine.synth.content`, does not load the generator and the
oracle (and scipy.sparse with them) into a web worker.
"""
from __future__ import annotations

import importlib

_HOMES = {"Effects": "oracle", "Oracle": "oracle", "World": "world", "WorldConfig": "world",
          "generate_world": "world"}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
