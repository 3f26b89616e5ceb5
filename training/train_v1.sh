#!/usr/bin/env bash
# Train Relit's five networks (and the two comparison nets of the model card) on the v1 factory
# data, in two lanes that each use one core. Resumable: run it again to go on where it stopped;
# a finished net is skipped (its checkpoint is at its final step).
#   nohup training/train_v1.sh > ~/.cache/relit/ckpt/train_v1.log 2>&1 &
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-.venv-train/bin/python}
SYNTH=${RELIT_SYNTH_ROOT:-$HOME/.cache/relit/synth}
DATA=("$SYNTH/v1" "$SYNTH/v1-extra")
NORMAL_STEPS=${NORMAL_STEPS:-2000}
MAP_STEPS=${MAP_STEPS:-1500}
run() {  # net steps size [extra args]
  local net=$1 steps=$2 size=$3; shift 3
  echo "train_v1: $net $* start $(date -Is)"
  "$PY" -m training.train "$net" --data "${DATA[@]}" --steps "$steps" --size "$size" \
    --threads 1 --rescan --log-every 50 "$@" || echo "train_v1: $net FAILED"
  echo "train_v1: $net $* done $(date -Is)"
}
lane_a() {
  run normal "$NORMAL_STEPS" 256
  run diffuse "$MAP_STEPS" 128
  run specular "$MAP_STEPS" 128
}
lane_b() {
  run normal "$NORMAL_STEPS" 256 --no-landmarks
  run albedo "$MAP_STEPS" 128
  run illum "$MAP_STEPS" 128
  run render "$MAP_STEPS" 128
}
lane_a > "${LOG_DIR:-$HOME/.cache/relit/ckpt}/lane_a.log" 2>&1 &
lane_b > "${LOG_DIR:-$HOME/.cache/relit/ckpt}/lane_b.log" 2>&1 &
wait
echo "train_v1: all done $(date -Is)"
