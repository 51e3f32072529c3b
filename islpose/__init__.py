"""islpose: continuous sign-language recognition from body landmarks.

The top-level import stays light (no torch, h5py, OpenCV or MediaPipe): every name below is
imported on first use.

API:
    extract(inputs, out, config)
        MediaPipe Holistic over videos into a feature store (:func:`islpose.extract.videos.extract`).
    import_poses(inputs, out, config)
        pose-format ``.pose`` files into a feature store (:func:`islpose.extract.import_pose.import_poses`).
    export_poses(store, out_dir)
        a store's landmarks as ``.pose`` files (:func:`islpose.extract.export_pose.export_poses`).
    FeatureStore
        the HDF5 store of landmarks and features (:class:`islpose.io.FeatureStore`).
    Vocabulary
        gloss tokens with the CTC blank (:class:`islpose.vocab.Vocabulary`).
    resolve_config, train(config, features, manifest, out)
        a CTC student from a store and a manifest (:func:`islpose.train.loop.train`).
    decode(checkpoint, features, manifest, split)
        decoding of stored utterances (:func:`islpose.decode.run.decode_store`).
    Recognizer, Recognition, Segment
        glosses with their times from a video, a ``.pose`` file or landmarks
        (:class:`islpose.recognize.Recognizer`).

``islpose.extract``, ``islpose.train`` and ``islpose.decode`` are also the subpackages that
hold these stages; calling the package calls its function.

Example:
    >>> import islpose
    >>> vocab = islpose.Vocabulary(["GO", "I", "SCHOOL"])
    >>> vocab.encode(["I", "GO"]), len(vocab)
    ([3, 2], 5)

    Each name above has an example of its own (``help(islpose.Recognizer)``, ...).

Layers:
    Each first-level part imports only from its own layer or lower ones (lowest first), with
    no two-way imports and no cycles; ``tests/test_imports.py`` checks it, imports inside
    functions included.

    0. _version, errors, _optional, _native, _callable, config, device, ctc  (foundations)
    1. io, assets  (store, journal, atomic writes, JSONL, the .pose binary format; the demo clip)
    2. features  (landmark layout and feature math: numpy, and torch for batches on the training device)
    3. manifests
    4. vocab
    5. extract, testing  (media -> landmarks -> store records; synthetic corpora)
    6. data, models  (batches; student models and their checkpoints)
    7. decode
    8. train
    9. teacher
    10. recognize  (inference: never imports train)
    11. export, viz
    12. demo, serve
    13. cli
    14. islpose  (this module: the API above)
"""

from __future__ import annotations

import importlib

from islpose._version import __version__
from islpose.errors import IslposeError

# name -> "module:attribute" (attribute empty: the module itself)
_API = {
    "extract": "islpose.extract:",
    "import_poses": "islpose.extract.import_pose:import_poses",
    "export_poses": "islpose.extract.export_pose:export_poses",
    "FeatureStore": "islpose.io.store:FeatureStore",
    "Vocabulary": "islpose.vocab:Vocabulary",
    "resolve_config": "islpose.train.config:resolve_config",
    "train": "islpose.train:",
    "decode": "islpose.decode:",
    "Recognizer": "islpose.recognize.recognizer:Recognizer",
    "Recognition": "islpose.recognize.segments:Recognition",
    "Segment": "islpose.recognize.segments:Segment",
}

__all__ = ["IslposeError", "__version__", *sorted(_API)]


def __getattr__(name: str):
    if name in _API:
        module, attr = _API[name].split(":")
        value = importlib.import_module(module)
        return getattr(value, attr) if attr else value
    raise AttributeError(f"module 'islpose' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
