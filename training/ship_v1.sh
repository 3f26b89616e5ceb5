#!/usr/bin/env bash
# Export the v1 checkpoints into models/ (ONNX, each checked against PyTorch, with its manifest
# entry), then measure everything in the model card. ALBEDO_NET picks the albedo route that
# measured better: "diffuse" (the patent's render / shading) or "albedo" (direct).
#   training/ship_v1.sh
set -e
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv-train/bin/python}
CKPT=${RELIT_CKPT_ROOT:-$HOME/.cache/relit/ckpt}
ALBEDO_NET=${ALBEDO_NET:-albedo}  # 0.1.0: the direct net measured 1.1 dB better
for net in normal illum "$ALBEDO_NET" specular render; do
  "$PY" -m training.export "$net" --ckpt "$CKPT/$net/last.pt"
done
"$PY" -m inference models
