"""Training of the CTC models: run configs, the loop, checkpoints, distillation.

The package is also callable: ``islpose.train(config, features, manifest, out)`` is
:func:`islpose.train.loop.train`.
"""

from islpose._callable import make_callable
from islpose.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from islpose.train.config import DistillConfig, RunConfig, TrainConfig, read_yaml, resolve_config
from islpose.train.distill import distill
from islpose.train.loop import TrainResult, train

__all__ = [
    "Checkpoint",
    "DistillConfig",
    "RunConfig",
    "TrainConfig",
    "TrainResult",
    "distill",
    "load_checkpoint",
    "read_yaml",
    "resolve_config",
    "save_checkpoint",
    "train",
]

make_callable(__name__, "islpose.train.loop:train")
