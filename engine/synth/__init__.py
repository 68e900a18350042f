"""Synthetic HCP world with ground truth (see docs/INTERFACES.md §3)."""
from engine.synth.oracle import Effects, Oracle
from engine.synth.world import World, WorldConfig, generate_world

__all__ = ["Effects", "Oracle", "World", "WorldConfig", "generate_world"]
