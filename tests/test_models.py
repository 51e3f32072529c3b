"""The CTC models: shapes, output lengths, padding, registry and configs."""

from __future__ import annotations

import math

import pytest
import torch

from islpose.errors import IslposeError
from islpose.io.store import FRAME_DATASETS
from islpose.models import MODELS, build_model, count_parameters, model_config_class

NAMES = sorted(MODELS)
SMALL = {  # smaller but same-shaped models keep the tests fast
    "bilstm_optimized": {"projection_dim": 32, "hidden_dim": 24, "num_layers": 3},
    "mobilenet_v3_1d": {"lstm_hidden": 32},
    "lstm_lookahead": {"projection_dim": 32, "hidden_dim": 32, "num_layers": 3, "lookahead": 2},
}


def input_dim(name: str) -> int:
    return FRAME_DATASETS[MODELS[name].feature][0][0]


def make(name: str, vocab_size: int = 11, **config) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, {**SMALL[name], **config}, vocab_size=vocab_size)


def test_registry_has_both_models():
    assert {"bilstm_optimized", "mobilenet_v3_1d"} <= set(MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_class_attributes(name):
    cls = MODELS[name]
    assert cls.feature in ("pose", "multimodal")
    assert isinstance(cls.subsample, int) and cls.subsample >= 1
    assert model_config_class(name) is cls.config_class
    assert make(name).name == name


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_output_lengths(name):
    model = make(name).eval()
    lengths = torch.tensor([37, 20, 5, 1])
    x = torch.randn(4, 37, input_dim(name))
    with torch.no_grad():
        log_probs, out_lengths = model(x, lengths)
    sub = MODELS[name].subsample
    assert log_probs.shape == (math.ceil(37 / sub), 4, 11)
    assert out_lengths.tolist() == [math.ceil(n / sub) for n in lengths.tolist()]
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(log_probs.shape[:2]), atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_padded_batch_equals_each_utterance_alone(name):
    model = make(name).eval()
    lengths = torch.tensor([29, 16, 7])
    x = torch.randn(3, 29, input_dim(name))
    x[1, 16:] = 5.0  # padding content must not matter
    x[2, 7:] = -3.0
    with torch.no_grad():
        batch, out_lengths = model(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            alone, alone_len = model(x[b : b + 1, :n], lengths[b : b + 1])
            assert alone_len.item() == out_lengths[b].item()
            torch.testing.assert_close(batch[: alone_len.item(), b], alone[:, 0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient_from_ctc(name):
    model = make(name).train()
    x = torch.randn(2, 24, input_dim(name))
    lengths = torch.tensor([24, 18])
    log_probs, out_lengths = model(x, lengths)
    targets = torch.tensor([1, 2, 3, 4, 5])
    loss = torch.nn.functional.ctc_loss(log_probs, targets, out_lengths, torch.tensor([3, 2]), zero_infinity=True)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing  # an unused parameter would also break DDP


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_grows_only_in_the_classifier_with_the_vocabulary(name):
    small, big = make(name, vocab_size=10), make(name, vocab_size=30)
    width = small.classifier.in_features
    assert count_parameters(big) - count_parameters(small) == 20 * (width + 1)


def test_bilstm_lstm_parameter_count_matches_the_spec_shapes():
    model = build_model("bilstm_optimized", vocab_size=1229)
    per_direction = lambda i, h: 4 * h * (i + h) + 8 * h  # noqa: E731  (weights + two bias vectors)
    expected = 2 * (per_direction(128, 192) + 2 * per_direction(384, 192))
    assert sum(p.numel() for p in model.lstms.parameters()) == expected
    assert model.classifier.in_features == 384 and model.classifier.out_features == 1229


@pytest.mark.parametrize("name", NAMES)
def test_config_from_dict_and_errors(name):
    cls = model_config_class(name)
    assert build_model(name, cls(), vocab_size=5).config == cls()
    with pytest.raises(IslposeError, match="unknown key"):
        build_model(name, {"no_such_option": 1}, vocab_size=5)
    with pytest.raises(IslposeError, match="expected"):
        build_model(name, {"dropout": "high"}, vocab_size=5)
    with pytest.raises(IslposeError, match="takes a"):
        build_model(name, object(), vocab_size=5)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(IslposeError, match="unknown model 'nope'.*bilstm_optimized"):
        build_model("nope", vocab_size=5)


def test_mobilenet_keeps_time_resolved():
    """The seed's AdaptiveAvgPool1d(1) bug made every frame identical; it must not come back."""
    model = make("mobilenet_v3_1d")
    torch.manual_seed(1)
    T = 160
    x = torch.randn(1, T, input_dim("mobilenet_v3_1d"))
    lengths = torch.tensor([T])
    with torch.no_grad():
        for module in model.modules():  # calibrate BatchNorm (fresh running stats shrink the signal)
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.momentum = None
        model.train()(x, lengths)
        model.eval()
        feats = model.frame_features(x, lengths)[0]  # (T, C)
        step = (feats[1:] - feats[:-1]).abs().mean()
        assert step > 0.05 * feats.abs().mean()  # neighbouring frames differ (collapsed: exactly 0)
        x2 = x.clone()
        x2[0, 10] += 3.0  # change one input frame
        change = (model.frame_features(x2, lengths)[0] - feats).abs().amax(dim=-1)  # (T,)
        # Its neighbourhood changes far more than distant frames (which only see it through
        # the squeeze-excitation means); a collapsed model would change every frame alike.
        assert change[5:16].max() > 20 * change[100:].max()
        # Reordering the input reorders the output instead of leaving it unchanged.
        swapped = torch.cat([x[:, T // 2 :], x[:, : T // 2]], dim=1)
        out, _ = model(x, lengths)
        out_swapped, _ = model(swapped, lengths)
        assert (out - out_swapped).abs().max() > 1e-2


@pytest.mark.parametrize("name", NAMES)
def test_training_mode_output_does_not_depend_on_padding(name):
    """Normalisation must not see padding: extra padded frames change nothing, in train mode too."""
    model = make(name, dropout=0.0).train()
    lengths = torch.tensor([29, 16, 7])
    x = torch.randn(3, 29, input_dim(name))
    padded = torch.cat([x, torch.full((3, 24, input_dim(name)), 7.0)], dim=1)  # 24 more padded frames
    with torch.no_grad():
        out, _ = model(x, lengths)
        out_padded, _ = model(padded, lengths)
    valid = out.shape[0]
    for b, n in enumerate(lengths.tolist()):
        m = math.ceil(n / MODELS[name].subsample)
        assert torch.allclose(out[:m, b], out_padded[:m, b], atol=1e-5), b
    assert valid <= out_padded.shape[0]


def test_masked_batchnorm_uses_only_valid_frames():
    from islpose.models.mobilenet_v3_1d import MaskedBatchNorm1d

    torch.manual_seed(0)
    x = torch.randn(2, 3, 10)
    mask = torch.tensor([[True] * 10, [True] * 4 + [False] * 6])
    x[1, :, 4:] = 100.0  # padding with a huge value
    masked, plain = MaskedBatchNorm1d(3).train(), torch.nn.BatchNorm1d(3).train()
    valid = torch.cat([x[0], x[1, :, :4]], dim=1)[None]  # (1, 3, 14): the valid frames only
    y = masked(x, mask)
    assert torch.allclose(y[0], plain(valid)[0, :, :10], atol=1e-5)
    assert torch.allclose(masked.running_mean, plain.running_mean, atol=1e-6)
    assert torch.allclose(masked.running_var, plain.running_var, atol=1e-5)
    masked.eval(), plain.eval()
    assert torch.allclose(masked(x, mask), plain(x), atol=1e-6)  # eval: running statistics, per frame


def test_mobilenet_logit_scale_is_checked():
    with pytest.raises(IslposeError, match="logit_scale"):
        make("mobilenet_v3_1d", logit_scale=0)
