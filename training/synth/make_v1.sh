#!/usr/bin/env bash
# Render Relit's first synthetic dataset: 3,000 training samples, then 300 validation samples
# of held-out identity anchors, at 256 px. Resumable: run it again to finish an interrupted run.
#   nohup nice -n 10 training/synth/make_v1.sh > ~/.cache/relit/synth/v1.log 2>&1 &
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-.venv/bin/python}
OUT=${RELIT_SYNTH_ROOT:-$HOME/.cache/relit/synth}
mkdir -p "$OUT"
echo "make_v1: start $(date -Is)"
"$PY" -m training.synth --count 3000 --res 256 --split train --seed 0 --out "$OUT/v1"
train=$?
"$PY" -m training.synth --count 300 --res 256 --split val --seed 1000000 --out "$OUT/v1-val"
val=$?
echo "make_v1: done $(date -Is) (train exit $train, val exit $val)"
exit $(( train || val ))
