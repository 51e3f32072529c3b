"""Training of the CTC models: run configs, the loop, checkpoints, dev WER."""
from islpose.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from islpose.train.config import DistillConfig, RunConfig, TrainConfig, read_yaml, resolve_config
from islpose.train.loop import TrainResult, train
from islpose.train.distill import distill
from islpose.train.metrics import greedy_decode, word_error_rate

__all__ = ["Checkpoint", "DistillConfig", "RunConfig", "TrainConfig", "TrainResult", "distill", "greedy_decode",
           "load_checkpoint", "read_yaml", "resolve_config", "save_checkpoint", "train", "word_error_rate"]
