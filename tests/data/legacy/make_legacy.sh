#!/usr/bin/env bash
# Writes the legacy fixtures of tests/test_legacy_formats.py. Run once at commit fd81211 (main before
# the layer restructuring) from the repository root with PYTHONPATH=$PWD; kept as a record, not rerun.
set -euo pipefail
L=tests/data/legacy
W=$(mktemp -d)
python - "$W" <<'PY'
import sys
from pathlib import Path
from islpose.testing import make_synthetic_corpus
make_synthetic_corpus(Path(sys.argv[1]) / "corpus", num_glosses=4, num_signers=3, utterances_per_signer=12,
                      min_glosses=2, max_glosses=2, seed=3)
PY
C="$W/corpus"
cat > "$W/bilstm.yaml" <<'Y'
model: bilstm_optimized
model_config: {projection_dim: 16, hidden_dim: 16, num_layers: 1, dropout: 0.0}
train: {batch_size: 4, epochs: 40, warmup_epochs: 1, lr: 0.02, progress: false, device: cpu, amp: false, seed: 0, patience: 0}
Y
islpose train --config "$W/bilstm.yaml" --features $C/features.h5 --manifest $C/corpus.jsonl --out "$W/bilstm"
cp "$W/bilstm/last.pt" $L/bilstm.pt  # the last epoch (best.pt is epoch 1 of this tiny run)
islpose export --checkpoint $L/bilstm.pt --format onnx --out $L/bilstm.onnx
# a store holding one (test) utterance, as `extract` lays it out
python - "$C/features.h5" "$L/store.h5" <<'PY'
import sys
from islpose.io import FeatureStore
with FeatureStore(sys.argv[1]) as src, FeatureStore(sys.argv[2], "w", metadata={k: v for k, v in src.metadata.items() if not k.startswith("format")}) as dst:
    uid = sorted(src.ids())[-1]
    attrs = {k: v for k, v in src.attrs(uid).items() if k != "num_frames"}
    dst.write(uid, {n: src.read(uid, n) for n in ("landmarks", "presence", "pose")}, attrs)
PY
islpose export-pose $L/store.h5 "$W/poses"
cp "$W"/poses/*.pose $L/utterance.pose
python - "$L" <<'PY'
import json, sys
from pathlib import Path
import numpy as np
from islpose.io import FeatureStore
from islpose.recognize import Recognizer
from islpose.recognize.runtime import load_student
L = Path(sys.argv[1])
with FeatureStore(L / "store.h5") as store:
    uid = store.ids()[0]
    pose = store.read(uid, "pose")
np.save(L / "expected_bilstm_pt.npy", load_student(L / "bilstm.pt").log_probs(pose))
np.save(L / "expected_bilstm_onnx.npy", load_student(L / "bilstm.onnx").log_probs(pose))
rec = Recognizer.from_checkpoint(L / "bilstm.pt", beam=1).recognize(L / "utterance.pose")
(L / "expected_recognize.json").write_text(json.dumps(rec, sort_keys=True) + "\n")
PY
rm -rf "$W"
