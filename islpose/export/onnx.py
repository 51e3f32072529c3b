"""ONNX export of the CTC students, for apps that run them with onnxruntime (no torch).

The exported graph has inputs ``features`` (B, T, D) float32 and ``lengths`` (B,) int64,
outputs ``log_probs`` (B, T', V) and ``out_lengths`` (B,), with B and T dynamic. The
packed-sequence BiLSTMs are exported through :class:`~islpose.models.PaddedBiLSTM`
(same weights, no packing), so a padded batch gives each utterance's own outputs. The
vocabulary goes beside the model (``MODEL.tokens.txt``); the model name, the feature set
it reads, its input width and its frame-rate factor (input frames per output frame) are
in the model's metadata.

Example:
    >>> export_onnx("runs/bilstm/best.pt", "bilstm.onnx")  # doctest: +SKIP
    >>> Recognizer.from_checkpoint("bilstm.onnx", beam=1).recognize("clip.mp4")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from islpose._optional import require
from islpose.errors import IslposeError
from islpose.io.atomic import atomic_path, check_output, write_text_atomic
from islpose.recognize.runtime import model_metadata, tokens_path

OPSET = 17


class _BatchFirst(nn.Module):
    """The student with batch-first outputs: (B, T, D), (B,) -> (B, T', V), (B,)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs, out_lengths = self.model(features, lengths)  # (T', B, V), (B,)
        return log_probs.transpose(0, 1), out_lengths


def exportable(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) with every bidirectional ``nn.LSTM`` replaced by its
    :class:`~islpose.models.PaddedBiLSTM` twin, wrapped to give batch-first outputs."""
    from islpose.models import PaddedBiLSTM

    model = copy.deepcopy(model).eval()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.LSTM) and child.bidirectional:  # a forward LSTM needs no twin
                setattr(parent, name, PaddedBiLSTM(child))
    return _BatchFirst(model).eval()


def export_onnx(checkpoint: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Exports a student checkpoint of ``islpose train`` to ONNX.

    Args:
        checkpoint: the ``.pt`` checkpoint.
        out: the ``.onnx`` file; ``<out stem>.tokens.txt`` is written beside it.
        overwrite: replace existing files (otherwise they are refused).

    Returns:
        The path of the ONNX model.
    """
    onnx = require("onnx", "export")
    from islpose.models import input_dim
    from islpose.models.checkpoint import load_checkpoint

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise IslposeError(f"{out}: the ONNX model's name should end in .onnx")
    check_output(out, overwrite, "model")
    check_output(tokens_path(out), overwrite, "vocabulary")
    ck = load_checkpoint(checkpoint, map_location="cpu")
    width = input_dim(ck.model)
    graph = exportable(ck.model)
    example = (torch.zeros(2, 24, width), torch.tensor([24, 17], dtype=torch.long))  # (B, T, D), (B,)
    with atomic_path(out) as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's notes on LSTM batch sizes etc.
            torch.onnx.export(
                graph,
                example,
                str(tmp),
                dynamo=False,
                opset_version=OPSET,
                input_names=["features", "lengths"],
                output_names=["log_probs", "out_lengths"],
                dynamic_axes={
                    "features": {0: "batch", 1: "frames"},
                    "lengths": {0: "batch"},
                    "log_probs": {0: "batch", 1: "out_frames"},
                    "out_lengths": {0: "batch"},
                },
            )
        proto = onnx.load(str(tmp))
        meta = model_metadata(ck.model_name, ck.model.feature, int(ck.model.subsample), width)
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        proto.doc_string = f"islpose {ck.model_name} CTC student exported from {Path(checkpoint).name}"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    write_text_atomic(tokens_path(out), "\n".join(ck.vocab.tokens) + "\n")
    return out
