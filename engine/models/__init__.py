"""Recommendation models: training data and splits (:mod:`.data`), the Recommender protocol
(:mod:`.base`), baselines (:mod:`.baselines`) and the hybrid model's components.

Submodules are imported explicitly (``from engine.models.data import make_split``) so that
importing the package never loads TensorFlow.
"""
