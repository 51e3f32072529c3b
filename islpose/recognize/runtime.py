"""The student model behind a :class:`~islpose.recognize.Recognizer`: a PyTorch checkpoint
(``.pt`` from ``islpose train``) or an ONNX model from ``islpose export`` (onnxruntime,
no torch needed).

Both give the same interface: ``feature`` (the feature set the model reads), ``subsample``
(input frames per output frame), ``input_dim``, ``vocab`` and :meth:`log_probs`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from islpose._optional import require
from islpose.errors import IslposeError
from islpose.vocab import Vocabulary

# Keys of the ONNX model's metadata (written by islpose.export.onnx).
META_FEATURE, META_SUBSAMPLE, META_MODEL, META_INPUT_DIM = (
    "islpose_feature",
    "islpose_subsample",
    "islpose_model",
    "islpose_input_dim",
)


def tokens_path(onnx_path: str | Path) -> Path:
    """The vocabulary file beside an exported model: ``MODEL.onnx`` -> ``MODEL.tokens.txt``."""
    return Path(onnx_path).with_suffix(".tokens.txt")


class StudentModel:
    """Base: a CTC student that maps (T, D) features to (T', V) log-probabilities."""

    name: str
    feature: str
    subsample: int
    input_dim: int
    vocab: Vocabulary

    def log_probs(self, features: np.ndarray) -> np.ndarray:
        """Args: features (T, D) float32 of one utterance. Returns: (ceil(T / subsample), V) float32."""
        raise NotImplementedError

    def _check(self, features: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.input_dim or x.shape[0] == 0:
            raise IslposeError(
                f"features of shape {x.shape} do not fit the {self.name} model (it needs (T > 0, {self.input_dim}))"
            )
        if not np.isfinite(x).all():
            raise IslposeError("NaN or inf in the features")
        return x


class TorchStudent(StudentModel):
    """A checkpoint of ``islpose train`` on the CPU (torch imported here)."""

    def __init__(self, path: str | Path) -> None:
        torch = require("torch", "train", "PyTorch (for a .pt checkpoint; an exported .onnx model needs none)")

        from islpose.models import input_dim
        from islpose.models.checkpoint import load_checkpoint

        ck = load_checkpoint(path, map_location="cpu")
        self.torch = torch
        self.model = ck.model.eval()
        self.name, self.vocab = ck.model_name, ck.vocab
        self.feature, self.subsample = self.model.feature, int(self.model.subsample)
        self.input_dim = input_dim(self.model)

    def log_probs(self, features: np.ndarray) -> np.ndarray:
        x = self.torch.from_numpy(self._check(features))[None]  # (1, T, D)
        with self.torch.inference_mode():
            lp, n = self.model(x, self.torch.tensor([x.shape[1]], dtype=self.torch.long))  # (T', 1, V), (1,)
        return lp[: int(n[0]), 0].float().numpy()


class OnnxStudent(StudentModel):
    """A model written by ``islpose export --format onnx``, run with onnxruntime."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        ort = require("onnxruntime", "runtime")
        path = Path(path)
        if not path.is_file():
            raise IslposeError(f"{path}: model not found")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise IslposeError(
                f"{path}: not a loadable ONNX model; pass a model written by `islpose export --format onnx`"
            ) from None
        meta = self.session.get_modelmeta().custom_metadata_map
        missing = [k for k in (META_FEATURE, META_SUBSAMPLE, META_MODEL, META_INPUT_DIM) if k not in meta]
        if missing:
            raise IslposeError(f"{path}: not exported by islpose (metadata lacks {', '.join(missing)})")
        self.name, self.feature = meta[META_MODEL], meta[META_FEATURE]
        self.subsample, self.input_dim = int(meta[META_SUBSAMPLE]), int(meta[META_INPUT_DIM])
        vocab_file = tokens_path(path)
        if not vocab_file.is_file():
            raise IslposeError(f"{path}: its vocabulary {vocab_file} is missing (export writes it beside the model)")
        self.vocab = Vocabulary.load(vocab_file)
        width = self.session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(self.vocab):
            raise IslposeError(f"{vocab_file}: {len(self.vocab)} tokens, but the model outputs {width} classes")

    def run(self, features: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A padded batch: features (B, T, D) float32, lengths (B,) int64 -> (B, T', V), (B,)."""
        return tuple(
            self.session.run(["log_probs", "out_lengths"], {"features": features, "lengths": lengths.astype(np.int64)})
        )

    def log_probs(self, features: np.ndarray) -> np.ndarray:
        x = self._check(features)[None]  # (1, T, D)
        lp, n = self.run(x, np.array([x.shape[1]], dtype=np.int64))
        return lp[0, : int(n[0])]


def load_student(path: str | Path) -> StudentModel:
    """A ``.onnx`` file gives an :class:`OnnxStudent`, anything else a :class:`TorchStudent`."""
    return OnnxStudent(path) if Path(path).suffix.lower() == ".onnx" else TorchStudent(path)


def model_metadata(name: str, feature: str, subsample: int, input_dim: int) -> dict[str, str]:
    """The metadata an exported model carries (all values are strings in ONNX)."""
    return {META_MODEL: name, META_FEATURE: feature, META_SUBSAMPLE: str(subsample), META_INPUT_DIM: str(input_dim)}
