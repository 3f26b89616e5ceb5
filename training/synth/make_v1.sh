#!/usr/bin/env bash
# Render Relit's first synthetic dataset at 256 px: two sets of held-out identity anchors
# (--split val) on their own seed ranges, then 3,000 training samples:
#   v1-val   100 development samples (seeds 1,000,000..): what choices are made on;
#   v1-test  200 test samples (seeds 2,000,000..): scored once per release, never tuned on.
# The held-out sets come first: they take about an hour, and without them no model can be
# judged, while training can start from the shipped models on whatever part of v1 exists.
# Resumable: run it again to finish an interrupted run.
#   nohup training/synth/make_v1.sh >> ~/.cache/relit/synth/v1.log 2>&1 &
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-.venv/bin/python}
OUT=${RELIT_SYNTH_ROOT:-$HOME/.cache/relit/synth}
mkdir -p "$OUT"
echo "make_v1: start $(date -Is)"
"$PY" -m training.synth --count 100 --res 256 --split val --seed 1000000 --out "$OUT/v1-val"
val=$?
"$PY" -m training.synth --count 200 --res 256 --split val --seed 2000000 --out "$OUT/v1-test"
test=$?
"$PY" -m training.synth --count 3000 --res 256 --split train --seed 0 --out "$OUT/v1"
train=$?
echo "make_v1: done $(date -Is) (train exit $train, val exit $val, test exit $test)"
exit $(( train || val || test ))
