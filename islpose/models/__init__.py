"""CTC models by name.

Every model class registers under a name and has:

* ``feature``: the feature-store dataset it reads (``"pose"`` or ``"multimodal"``),
* ``subsample``: temporal subsampling, output frames = ``ceil(T / subsample)``,
* ``config_class``: its dataclass config (YAML ``model_config`` maps onto it),
* ``train_defaults``: ``TrainConfig`` values that differ from the generic defaults,
* ``augment_defaults`` (optional): ``AugmentConfig`` values that differ from its defaults,
* ``legacy_config`` (optional): the values of config fields added since checkpoint format 1,
  as those checkpoints' models had them (``islpose.models.checkpoint.read_checkpoint`` fills them in),
* ``forward(x (B, T, D) float, lengths (B,) long) -> (log_probs (T', B, V), out_lengths (B,))``.

Example:
    >>> from islpose.models import build_model
    >>> model = build_model("bilstm_optimized", {"dropout": 0.1}, vocab_size=30)  # doctest: +SKIP
"""

from __future__ import annotations

# Importing the architectures registers them.
from islpose.models import bilstm_optimized, lstm_lookahead, mobilenet_v3_1d  # noqa: F401
from islpose.models.common import PaddedBiLSTM, count_parameters, lengths_mask, run_bilstm
from islpose.models.registry import MODELS, build_model, input_dim, model_class, model_config_class, register_model

__all__ = [
    "MODELS",
    "PaddedBiLSTM",
    "build_model",
    "count_parameters",
    "input_dim",
    "lengths_mask",
    "model_class",
    "model_config_class",
    "register_model",
    "run_bilstm",
]
