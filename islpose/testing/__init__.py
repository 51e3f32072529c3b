"""Synthetic data for tests, benchmarks and recipes."""

from islpose.testing.synthetic import SyntheticCorpus, make_synthetic_corpus
from islpose.testing.synthetic_wild import WildCorpus, make_wild_corpus

__all__ = ["SyntheticCorpus", "WildCorpus", "make_synthetic_corpus", "make_wild_corpus"]
