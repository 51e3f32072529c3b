"""The HDF5 feature store."""
from islpose.io.store import FORMAT, FORMAT_VERSION, FeatureStore

__all__ = ["FORMAT", "FORMAT_VERSION", "FeatureStore"]
