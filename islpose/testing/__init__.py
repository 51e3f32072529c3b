"""Synthetic data for tests, benchmarks and recipes."""

from islpose.testing.synthetic import SyntheticCorpus, make_synthetic_corpus

__all__ = ["SyntheticCorpus", "make_synthetic_corpus"]
