"""ONNX export of both students: parity with PyTorch on padded batches, the file contract, the command."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from islpose.cli.main import cli

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def _checkpoint(tmp_path, name: str, seed: int = 0):
    """A student with random weights (and random BatchNorm statistics) saved as a checkpoint."""
    from islpose.models import build_model
    from islpose.train import save_checkpoint
    from islpose.vocab import Vocabulary

    torch.manual_seed(seed)
    vocab = Vocabulary([f"G{i:02d}" for i in range(15)])
    config = {"dropout": 0.0} if name == "bilstm_optimized" else None
    model = build_model(name, config, vocab_size=len(vocab))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_(0, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model.eval()
    ck = save_checkpoint(
        tmp_path / f"{name}.pt", model, vocab, {"model": name, "model_config": {}, "train": {}}, {"epoch": 0}
    )
    return ck, model, vocab


@pytest.mark.parametrize("name", ["bilstm_optimized", "mobilenet_v3_1d"])
def test_onnx_matches_pytorch_on_padded_batches(tmp_path, name):
    from islpose.decode.greedy import greedy_decode
    from islpose.export import export_onnx
    from islpose.recognize.runtime import OnnxStudent

    ck, model, vocab = _checkpoint(tmp_path, name)
    onnx_model = OnnxStudent(export_onnx(ck, tmp_path / "model.onnx"))
    assert (onnx_model.name, onnx_model.feature, onnx_model.subsample) == (name, model.feature, model.subsample)
    assert onnx_model.vocab == vocab
    rng = np.random.default_rng(0)
    for lengths in ([61, 40, 9, 1], [7], [130, 130]):  # B and T differ from the export example (2 x 24)
        x = rng.normal(0, 1, size=(len(lengths), max(lengths), onnx_model.input_dim)).astype(np.float32)
        for b, n in enumerate(lengths):
            x[b, n:] = rng.normal(0, 5, size=x[b, n:].shape)  # padding that must not matter
        lens = np.array(lengths, dtype=np.int64)
        with torch.inference_mode():
            lp, out_lens = model(torch.from_numpy(x), torch.from_numpy(lens))  # (T', B, V), (B,)
        lp = lp.transpose(0, 1).numpy()
        olp, olens = onnx_model.run(x, lens)  # (B, T', V), (B,)
        assert olp.shape == lp.shape and olens.tolist() == out_lens.tolist()
        for b, n in enumerate(out_lens.tolist()):
            assert np.abs(olp[b, :n] - lp[b, :n]).max() < 1e-4
            assert greedy_decode(olp[b, :n]) == greedy_decode(lp[b, :n])
            alone = onnx_model.log_probs(x[b, : lengths[b]])  # each utterance alone = its row of the batch
            assert np.abs(alone - olp[b, :n]).max() < 1e-4


def test_export_command_writes_model_tokens_and_metadata(tmp_path):
    import onnx

    ck, _, vocab = _checkpoint(tmp_path, "bilstm_optimized")
    out = tmp_path / "student.onnx"
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(ck), "--format", "onnx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "student.tokens.txt").read_text().splitlines() == list(vocab.tokens)
    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["islpose_feature"] == "pose" and meta["islpose_subsample"] == "2"
    assert meta["islpose_model"] == "bilstm_optimized" and meta["islpose_input_dim"] == "66"
    assert [i.name for i in proto.graph.input] == ["features", "lengths"]
    assert [o.name for o in proto.graph.output] == ["log_probs", "out_lengths"]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[:2] == ["batch", "frames"] and dims[2] == 66
    again = CliRunner().invoke(cli, ["export", "--checkpoint", str(ck), "--out", str(out)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert CliRunner().invoke(cli, ["export", "--checkpoint", str(ck), "--out", str(out), "--overwrite"]).exit_code == 0


def test_onnx_model_errors_are_clear(tmp_path):
    from islpose import IslposeError
    from islpose.export import export_onnx
    from islpose.recognize.runtime import OnnxStudent

    ck, _, _ = _checkpoint(tmp_path, "bilstm_optimized")
    with pytest.raises(IslposeError, match="should end in .onnx"):
        export_onnx(ck, tmp_path / "model.pt")
    path = export_onnx(ck, tmp_path / "model.onnx")
    (tmp_path / "model.tokens.txt").unlink()
    with pytest.raises(IslposeError, match="tokens.txt is missing"):
        OnnxStudent(path)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(IslposeError, match="not a loadable ONNX model; pass a model written by `islpose export"):
        OnnxStudent(tmp_path / "junk.onnx")


def test_missing_onnxruntime_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    import sys

    from islpose import IslposeError
    from islpose.recognize.runtime import OnnxStudent

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(IslposeError, match=r"onnxruntime is not installed: pip install 'islpose\[runtime\]'"):
        OnnxStudent(tmp_path / "model.onnx")
