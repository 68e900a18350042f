"""Topic modelling of abstracts: spaCy text pipeline, gensim LDA, labels, explorer data."""
from engine.topics.model import TopicModel, nmi

__all__ = ["TopicModel", "nmi"]
