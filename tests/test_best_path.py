"""The best-path (Viterbi) CTC loss and its weight schedule in training."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from islpose.errors import IslposeError
from islpose.recognize.segments import forced_align
from islpose.train import resolve_config, train
from islpose.train.best_path import best_path, best_path_loss
from islpose.train.loop import Trainer

from train_helpers import TINY, TINY_TRAIN


def _batch(seed: int, B: int = 5, T: int = 30, V: int = 6):
    g = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(T, B, V, generator=g).mul(3).log_softmax(-1)
    out_lengths = torch.randint(8, T + 1, (B,), generator=g)
    out_lengths[0] = T
    target_lengths = torch.randint(0, 5, (B,), generator=g)
    target_lengths[1] = 3
    labels = [torch.randint(1, V, (int(n),), generator=g) for n in target_lengths]
    labels[1][1] = labels[1][0]  # a repeated gloss needs a blank between its two frames
    return log_probs, out_lengths, labels, target_lengths


@pytest.mark.parametrize("seed", range(8))
def test_best_path_is_forced_aligns_path_in_a_padded_batch(seed):
    """The batched torch Viterbi gives every utterance of a padded batch the path that the
    one-utterance numpy aligner of recognize gives it alone; padding is -1."""
    log_probs, out_lengths, labels, target_lengths = _batch(seed)
    path = best_path(log_probs, out_lengths, torch.cat(labels), target_lengths)
    for b, glosses in enumerate(labels):
        n = int(out_lengths[b])
        expected = np.zeros(n, dtype=np.int64)
        for label, (first, last) in zip(glosses.tolist(), forced_align(log_probs[:n, b].numpy(), glosses.tolist())):
            expected[first:last + 1] = label
        assert path[:n, b].tolist() == expected.tolist()
        assert (path[n:, b] == -1).all()


def test_best_path_loss_is_the_best_paths_negative_log_probability():
    """Brute force over all label sequences of 5 frames: the loss is -max log P(path) / len(labels)."""
    g = torch.Generator().manual_seed(1)
    log_probs = torch.randn(5, 1, 4, generator=g).mul(2).log_softmax(-1)
    labels = [2, 2, 3]
    best = max(sum(log_probs[t, 0, s].item() for t, s in enumerate(states))
               for states in itertools.product(range(4), repeat=5)
               if [s for i, s in enumerate(states) if s and (i == 0 or states[i - 1] != s)] == labels)
    loss = best_path_loss(log_probs, torch.tensor([5]), torch.tensor(labels), torch.tensor([3]))
    assert loss.item() == pytest.approx(-best / 3, rel=1e-5)


def test_best_path_loss_gradient_is_cross_entropy_towards_the_path():
    log_probs, out_lengths, labels, target_lengths = _batch(3)
    logits = log_probs.clone().requires_grad_()
    best_path_loss(logits.log_softmax(-1), out_lengths, torch.cat(labels), target_lengths).backward()
    path = best_path(log_probs, out_lengths, torch.cat(labels), target_lengths)
    onehot = torch.nn.functional.one_hot(path.clamp(min=0), log_probs.shape[-1]) * (path >= 0)[..., None]
    # d/dz of -sum log softmax(z)[path] / L, averaged over the B utterances: (softmax - onehot) / (L * B)
    scale = (target_lengths.clamp(min=1) * len(target_lengths)).float()
    expected = (log_probs.exp() * (path >= 0)[..., None] - onehot) / scale[None, :, None]
    assert torch.allclose(logits.grad, expected, atol=1e-6)


def test_an_utterance_too_short_for_its_labels_is_left_out():
    log_probs = torch.zeros(4, 2, 5).log_softmax(-1)
    path = best_path(log_probs, torch.tensor([2, 4]), torch.tensor([1, 2, 3, 4]), torch.tensor([3, 1]))
    assert (path[:, 0] == -1).all() and (path[:, 1] >= 0).all()
    lone = best_path_loss(log_probs, torch.tensor([2, 4]), torch.tensor([1, 2, 3, 4]), torch.tensor([3, 1]))
    assert lone.item() == pytest.approx(best_path_loss(log_probs[:, 1:], torch.tensor([4]), torch.tensor([4]),
                                                       torch.tensor([1])).item())


@pytest.mark.parametrize("name", ["bilstm_optimized", "mobilenet_v3_1d"])
def test_viterbi_start_is_off_by_default_and_checked(name):
    """Off by default: it made mobilenet_v3_1d worse on unseen signers (README, Training)."""
    assert resolve_config(name).train.viterbi_epochs == 0
    with pytest.raises(IslposeError, match="viterbi_weight"):
        resolve_config(name, {"train": {"viterbi_weight": -1.0}})


def test_viterbi_weight_falls_linearly_to_zero(tmp_path, small_corpus, monkeypatch):
    """Over viterbi_epochs the weight falls from viterbi_weight to 0 by optimizer step, then stays 0."""
    weights = []
    step = Trainer._step

    def spy(self, batch):
        weights.append(self._viterbi_weight())
        return step(self, batch)

    monkeypatch.setattr(Trainer, "_step", spy)
    config = resolve_config("bilstm_optimized", {"model_config": TINY["bilstm_optimized"], "train": {
        **TINY_TRAIN, "epochs": 3, "viterbi_epochs": 2, "viterbi_weight": 0.5}})
    train(config, small_corpus.store, small_corpus.manifest, tmp_path / "run")
    per_epoch = len(weights) // 3
    assert weights[0] == 0.5
    expected = [0.5 * max(0.0, 1 - i / (2 * per_epoch)) for i in range(len(weights))]
    assert weights == pytest.approx(expected)
    assert weights[2 * per_epoch:] == [0.0] * per_epoch


def test_plateau_study_recipe_runs(tmp_path):
    """pipelines/recipes/plateau_study.py on a tiny corpus: one row per run, and the table."""
    import json
    import subprocess
    import sys

    from train_helpers import REPO

    proc = subprocess.run([sys.executable, str(REPO / "pipelines" / "recipes" / "plateau_study.py"), "--out", tmp_path,
                           "--model", "bilstm_optimized", "--signers", "4", "--utterances", "3", "--epochs", "2",
                           "--setting", "off:viterbi_epochs=0",
                           "--setting", "on:viterbi_epochs=1,viterbi_weight=0.5,model_config.dropout=0.1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["setting"] for r in rows] == ["off", "on"]
    assert rows[1]["train"] == {"viterbi_epochs": 1, "viterbi_weight": 0.5} and rows[1]["model_config"] == {"dropout": 0.1}
    assert all(len(r["dev_wer"]) == len(r["dev_loss"]) == 2 for r in rows)
    assert "on: leaves within 3 epochs in" in proc.stdout
