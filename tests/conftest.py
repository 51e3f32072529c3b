"""Shared fixtures: the real media vendored in tests/data and small generated corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO / "tests" / "data"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The tests run tiny models: one intra-op thread is faster than two and steadier
    when the 2 cores of a CI machine are busy (seen: 40x slower steps with 2 threads)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """tests/data: the real videos, images and .pose files vendored with the tests (see its SOURCES.md)."""
    return MEDIA


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """A small synthetic corpus (8 glosses, 3 signers x 6 sentences), shared by tests that only read it."""
    from islpose.testing import make_synthetic_corpus

    return make_synthetic_corpus(
        tmp_path_factory.mktemp("small_corpus"), num_glosses=8, num_signers=3, utterances_per_signer=6, seed=1
    )


@pytest.fixture(scope="session")
def tiny_checkpoint(small_corpus, tmp_path_factory) -> Path:
    """best.pt of a one-epoch tiny BiLSTM on the small corpus, for tests where what it
    recognises does not matter (outputs, messages, stored landmarks)."""
    from train_helpers import run, tiny_config

    tmp = tmp_path_factory.mktemp("tiny_run")
    result = run(
        "train",
        "--config",
        tiny_config(tmp, "bilstm_optimized", epochs=1),
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        tmp / "run",
    )
    assert result.exit_code == 0, result.output
    return tmp / "run" / "best.pt"


@pytest.fixture(scope="session")
def trained_bilstm(tmp_path_factory):
    """A small BiLSTM trained on a synthetic corpus with 6 training signers (dev and test: one
    unseen signer each), about 2% dev WER: (corpus, run folder with best.pt). Shared by the
    decoding and recognition tests."""
    from islpose.testing import make_synthetic_corpus
    from islpose.train import resolve_config, train

    root = tmp_path_factory.mktemp("trained_bilstm")
    corpus = make_synthetic_corpus(root / "corpus", num_glosses=8, num_signers=8, utterances_per_signer=30, seed=0)
    config = resolve_config(
        "bilstm_optimized",
        {
            "model_config": {"projection_dim": 64, "hidden_dim": 96, "num_layers": 2, "dropout": 0.1},
            "train": {
                "epochs": 40,
                "batch_size": 8,
                "warmup_epochs": 1,
                "lr": 3e-3,
                "device": "cpu",
                "progress": False,
                "amp": False,
                "patience": 0,
                "seed": 0,
            },
        },
    )
    train(config, corpus.store, corpus.manifest, root / "run")
    return corpus, root / "run"
