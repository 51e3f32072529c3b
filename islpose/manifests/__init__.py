"""Utterance manifests (JSONL or CSV): reading, writing and validation."""

from islpose.manifests.manifest import (
    FIELDS,
    SPLITS,
    Manifest,
    Utterance,
    read_manifest,
    write_manifest,
)
from islpose.manifests.select import select_utterances
from islpose.manifests.validate import Problem, check_against_store, check_manifest, validate_manifest

__all__ = [
    "FIELDS",
    "SPLITS",
    "Manifest",
    "Problem",
    "Utterance",
    "check_against_store",
    "check_manifest",
    "read_manifest",
    "select_utterances",
    "validate_manifest",
    "write_manifest",
]
