#!/usr/bin/env bash
# Export checkpoints into models/ (ONNX, each checked against PyTorch, with its manifest entry).
# ALBEDO_NET picks the albedo route that measured better: "diffuse" (the patent's render /
# shading) or "albedo" (direct). NETS picks which nets, RELIT_CKPT_ROOT where their runs are,
# NORMAL_RUN which run there is NormalNet (default normal; normal_pj for the perturbed-prior
# run of training/finetune.sh), VERSION the version the manifest gives them.
#   training/ship_v1.sh
#   RELIT_CKPT_ROOT=~/.cache/relit/ckpt/v2 VERSION=0.2.0 NETS="normal albedo" training/ship_v1.sh
set -e
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv-train/bin/python}
CKPT=${RELIT_CKPT_ROOT:-$HOME/.cache/relit/ckpt}
ALBEDO_NET=${ALBEDO_NET:-albedo}  # the direct net measured better (MODEL_CARD.md, Albedo route)
VERSION=${VERSION:-0.1.0}
for net in ${NETS:-normal illum $ALBEDO_NET specular render}; do
  run=$net
  [ "$net" = normal ] && run=${NORMAL_RUN:-normal}
  "$PY" -m training.export "$net" --ckpt "$CKPT/$run/last.pt" --version "$VERSION"
done
"$PY" -m inference models
