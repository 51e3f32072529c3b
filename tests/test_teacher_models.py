"""Teacher models, loss, generation, weights and configs (tiny configs on the CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from islpose.ctc import batch_fits_ctc, min_ctc_frames
from islpose.errors import IslposeError
from islpose.teacher.config import load_teacher_config, teacher_config
from islpose.teacher.generate import greedy_generate
from islpose.teacher.loss import HybridLossConfig, hybrid_loss
from islpose.teacher.models import TEACHERS, build_teacher, load_init_weights
from islpose.teacher.models.common import attention

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
NAMES = sorted(TEACHERS)
V, VT = 7, 9  # gloss and text vocabulary sizes of the tiny models


def tiny(name: str, **model_overrides):
    cfg = load_teacher_config(CONFIGS / f"teacher_{name}_tiny.yaml")
    data = cfg.to_dict()["model_config"]
    data.update(model_overrides)
    torch.manual_seed(0)
    return build_teacher(name, data, vocab_size=V, text_vocab_size=VT), cfg


def batch(size: int = 32, lengths=(5, 8), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    frames = torch.randn(len(lengths), int(lengths.max()), 3, size, size, generator=g)
    frames[1:, :][torch.arange(frames.shape[1])[None, :].expand(len(lengths) - 1, -1) >= lengths[1:, None]] = 0
    text = torch.tensor([[1, 4, 5, 2, 0], [1, 6, 7, 8, 2]])[: len(lengths)]
    targets = torch.tensor([[3, 4, 0], [5, 5, 6]])[: len(lengths)]
    return frames, lengths, text, targets, torch.tensor([2, 3])[: len(lengths)]


# ---------------------------------------------------------------- parameter counts
def vit_params(c) -> int:
    d, m, n = c.hidden_dim, c.mlp_dim, (c.image_size // c.patch_size) ** 2
    block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * m + m) + (m * d + d)
    return c.num_layers * block + (3 * c.patch_size**2 * d + d) + d + (n + 1) * d + 2 * d


def test_dense_vit_full_config_parameter_count_on_meta():
    cfg = load_teacher_config(CONFIGS / "teacher_dense_vit.yaml")
    with torch.device("meta"):
        model = build_teacher("dense_vit", cfg.model_config, vocab_size=1229, text_vocab_size=3000)
    vit = sum(p.numel() for p in model.vit.parameters())
    assert vit == vit_params(cfg.model_config)
    assert 300e6 < vit < 306e6  # ViT-L/16: about 303 M (ViT-Base has 86 M)


def test_cnn_transformer_backbone_is_resnet50():
    cfg = load_teacher_config(CONFIGS / "teacher_cnn_transformer.yaml")
    with torch.device("meta"):
        model = build_teacher("cnn_transformer", cfg.model_config, vocab_size=1229)
    # torchvision resnet50: 25,557,032 parameters, of which fc = 2048 * 1000 + 1000
    assert sum(p.numel() for p in model.backbone.parameters()) == 25_557_032 - 2_049_000


@pytest.mark.parametrize("name", NAMES)
def test_full_configs_build_on_meta(name):
    cfg = load_teacher_config(CONFIGS / f"teacher_{name}.yaml")
    with torch.device("meta"):
        model = build_teacher(name, cfg.model_config, vocab_size=1229, text_vocab_size=3000)
    assert model.decoder is not None and len(model.decoder.layers.layers) == 4
    assert model.ctc_head.out_features == 1229


# ---------------------------------------------------------------- forward
@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_and_log_probs(name):
    model, _ = tiny(name)
    frames, lengths, text, _, _ = batch()
    out = model(frames, lengths, text)
    assert out.log_probs.shape == (8, 2, V) and out.log_probs.dtype == torch.float32
    assert torch.allclose(out.log_probs.exp().sum(-1), torch.ones(8, 2), atol=1e-5)
    assert out.lengths.tolist() == [5, 8]
    assert out.text_logits.shape == (2, 4, VT)


@pytest.mark.parametrize("name", NAMES)
def test_padding_does_not_change_outputs(name):
    model, _ = tiny(name)
    model.eval()
    frames, lengths, text, _, _ = batch()
    with torch.no_grad():
        both = model(frames, lengths, text)
        alone = model(frames[:1, :5], lengths[:1], text[:1])
    torch.testing.assert_close(both.log_probs[:5, 0], alone.log_probs[:, 0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(both.text_logits[0], alone.text_logits[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_checkpointing_gives_the_same_gradients(name):
    grads = []
    for ckpt in (False, True):
        model, _ = tiny(name, grad_checkpointing=ckpt)
        frames, lengths, text, targets, tlens = batch()
        hybrid_loss(model(frames, lengths, text), targets, tlens, text, HybridLossConfig()).loss.backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_chunked_attention_model_matches(name):
    outs = []
    for chunk in (0, 3):
        model, _ = tiny(name, attn_chunk=chunk)
        frames, lengths, text, _, _ = batch()
        outs.append(model.eval()(frames, lengths, text).log_probs)
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-4)


def test_attention_chunks_equal_full_attention_with_mask():
    q, k, v = torch.randn(3, 4, 2, 10, 8).unbind(0)  # (B, H, N, d)
    mask = torch.tensor([[True] * 10, [True] * 6 + [False] * 4, [True] + [False] * 9, [True] * 9 + [False]])
    torch.testing.assert_close(attention(q, k, v, mask, chunk=3), attention(q, k, v, mask), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_config_trains_a_few_steps(name):
    model, cfg = tiny(name)
    t = cfg.train
    opt = torch.optim.AdamW(model.param_groups(t.encoder_lr, t.decoder_lr, t.weight_decay))
    frames, lengths, text, targets, tlens = batch()
    losses = []
    for _ in range(12):
        out = hybrid_loss(model(frames, lengths, text), targets, tlens, text, cfg.loss)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        opt.step()
        losses.append(out.loss.item())
        assert out.skipped == 0
    assert losses[-1] < 0.8 * losses[0]


def test_param_groups_split_encoder_and_heads():
    model, _ = tiny("dense_vit")
    groups = model.param_groups(5e-5, 1.5e-4, 1e-3)
    by_lr = {lr: {id(p) for g in groups if g["lr"] == lr for p in g["params"]} for lr in (5e-5, 1.5e-4)}
    heads = {id(p) for m in (model.ctc_head, model.decoder) for p in m.parameters()}
    assert by_lr[1.5e-4] == heads
    assert by_lr[5e-5] | heads == {id(p) for p in model.parameters()} and not by_lr[5e-5] & heads
    no_decay = {id(p) for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert id(model.vit.pos_embed) in no_decay and id(model.vit.blocks[0].attn.qkv.weight) not in no_decay


# ---------------------------------------------------------------- loss
def test_ctc_fits_agrees_with_min_ctc_frames():
    g = torch.Generator().manual_seed(3)
    targets = torch.randint(1, 4, (50, 6), generator=g)
    tlens = torch.randint(0, 7, (50,), generator=g)
    out_lens = torch.randint(0, 10, (50,), generator=g)
    want = [o >= min_ctc_frames(t[:n].tolist()) for t, n, o in zip(targets, tlens, out_lens)]
    assert batch_fits_ctc(targets, tlens, out_lens).tolist() == [bool(w) for w in want]


def test_loss_skips_utterances_that_cannot_fit():
    model, _ = tiny("dense_vit")
    frames, lengths, text, targets, tlens = batch(lengths=(2, 8))
    targets[0] = torch.tensor([3, 3, 3])
    tlens = torch.tensor([3, 3])  # "3 3 3" needs 5 frames, the first clip has 2
    out = model(frames, lengths, text)
    both = hybrid_loss(out, targets, tlens, text, HybridLossConfig(ce_weight=0))
    second = hybrid_loss(
        type(out)(out.log_probs[:, 1:], out.lengths[1:], None),
        targets[1:],
        tlens[1:],
        None,
        HybridLossConfig(ce_weight=0),
    )
    assert both.skipped == 1 and second.skipped == 0
    torch.testing.assert_close(both.ctc, second.ctc)


def test_label_smoothing_and_weights():
    model, _ = tiny("dense_vit")
    frames, lengths, text, targets, tlens = batch()
    out = model(frames, lengths, text)
    plain = hybrid_loss(out, targets, tlens, text, HybridLossConfig(label_smoothing=0.0))
    smooth = hybrid_loss(out, targets, tlens, text, HybridLossConfig(label_smoothing=0.05))
    logits = out.text_logits.reshape(-1, VT)
    gold = text[:, 1:].reshape(-1)
    keep = gold != 0
    want = torch.nn.functional.cross_entropy(logits[keep], gold[keep])
    torch.testing.assert_close(plain.ce, want.detach())
    assert smooth.ce != plain.ce
    torch.testing.assert_close(plain.loss.detach(), 0.5 * plain.ctc + 0.5 * plain.ce)
    with pytest.raises(IslposeError, match="no text"):
        hybrid_loss(out, targets, tlens, None, HybridLossConfig())
    with pytest.raises(IslposeError, match="weights"):
        HybridLossConfig(ctc_weight=0, ce_weight=0)


# ---------------------------------------------------------------- generation
def test_generation_needs_a_text_decoder():
    model, _ = tiny("dense_vit", decoder={"enabled": False})
    frames, lengths, _, _, _ = batch()
    assert model.decoder is None and model(frames, lengths).text_logits is None
    with pytest.raises(IslposeError, match="without a text decoder"):
        greedy_generate(model, frames, lengths)


# ---------------------------------------------------------------- weights
def test_init_weights_round_trip_and_errors(tmp_path):
    source, _ = tiny("dense_vit")
    path = tmp_path / "w.pt"
    torch.save({"state_dict": source.state_dict()}, path)
    torch.manual_seed(1)
    target = build_teacher("dense_vit", source.config, vocab_size=V, text_vocab_size=VT)
    report = load_init_weights(target, path)
    assert not report["missing"] and not report["ignored"]
    for (k, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), k
    bigger = build_teacher("dense_vit", source.config, vocab_size=V + 1, text_vocab_size=VT)
    with pytest.raises(IslposeError, match="ctc_head.weight has shape"):
        load_init_weights(bigger, path)
    torch.save({"foo.bar": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(IslposeError, match="no weight fits"):
        load_init_weights(target, tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(IslposeError, match="junk.pt: cannot read weights"):
        load_init_weights(target, tmp_path / "junk.pt")
    with pytest.raises(IslposeError, match="not found"):
        load_init_weights(target, tmp_path / "missing.pt")


def test_init_weights_accepts_a_backbone_state_dict(tmp_path):
    source, _ = tiny("cnn_transformer")
    torch.save(source.backbone.state_dict(), tmp_path / "resnet.pt")
    target, _ = tiny("cnn_transformer")
    torch.nn.init.ones_(target.backbone.conv1.weight)
    report = load_init_weights(target, tmp_path / "resnet.pt")
    assert all(k.startswith("backbone.") for k in report["loaded"]) and report["missing"]
    assert torch.equal(target.backbone.conv1.weight, source.backbone.conv1.weight)


def test_init_weights_safetensors(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch", reason="safetensors is not installed")
    source, _ = tiny("timesformer")
    safetensors.save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "w.safetensors"))
    target, _ = tiny("timesformer")
    assert not load_init_weights(target, tmp_path / "w.safetensors")["missing"]


# ---------------------------------------------------------------- configs
@pytest.mark.parametrize("path", sorted(CONFIGS.glob("teacher_*.yaml")), ids=lambda p: p.stem)
def test_yaml_configs_round_trip(path):
    cfg = load_teacher_config(path)
    assert teacher_config(cfg.to_dict(), where=path.name) == cfg


@pytest.mark.parametrize(
    "data, match",
    [
        ({"model": "dense_vit", "optimizer": {}}, "unknown key.*optimizer"),
        ({"model": "dense_vit", "model_config": {"hidden": 3}}, "unknown key.*hidden"),
        ({"model": "dense_vit", "model_config": {"decoder": {"layers": 3}}}, "unknown key.*layers"),
        ({"model": "dense_vit", "video": {"size": 112}}, "image_size.*224.*differs"),
        ({"model": "resnet"}, "unknown teacher 'resnet'"),
        ({"model": "timesformer", "video": {"fit": "crop"}}, "fit='crop'"),
        ({}, "no teacher model"),
    ],
)
def test_config_errors(data, match):
    with pytest.raises(IslposeError, match=match):
        teacher_config(data)
